// The hardware family's RMSNorm forward and backward for rows whose width is a multiple of 4 (vec4 loads); the
// kernels are in _hw_rmsnorm.wgsl, shared with the scalar variant hw_rmsnorm_x1.wgsl. ops/rmsnorm.ts picks one.
// #include _hw_q4
// #include _hw_rows
// #include _hw_reduce
// #include _hw_colsum
// #include _hw_rmsnorm_x
// #include _hw_rmsnorm_y
// #include _hw_rmsnorm
