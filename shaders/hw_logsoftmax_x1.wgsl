// The hardware family's log-softmax, target log-prob and cross-entropy backward for rows of any width (scalar
// loads); the kernels are in _hw_logsoftmax.wgsl.
// #include _hw_q1
// #include _hw_rows
// #include _hw_reduce
// #include _hw_logsoftmax
