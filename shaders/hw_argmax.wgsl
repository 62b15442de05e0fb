// The hardware family's row-wise argmax for rows whose width is a multiple of 4 (vec4 loads); the kernel is in
// _hw_argmax.wgsl, shared with the scalar variant hw_argmax_x1.wgsl. ops/argmax.ts picks one.
// #include _hw_q4
// #include _hw_rows
// #include _hw_reduce
// #include _hw_argmax
