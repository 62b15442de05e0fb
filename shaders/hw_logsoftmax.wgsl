// The hardware family's log-softmax, target log-prob and cross-entropy backward for rows whose width is a multiple
// of 4 (vec4 loads); the kernels are in _hw_logsoftmax.wgsl, shared with the scalar variant hw_logsoftmax_x1.wgsl.
// #include _hw_q4
// #include _hw_rows
// #include _hw_reduce
// #include _hw_logsoftmax
