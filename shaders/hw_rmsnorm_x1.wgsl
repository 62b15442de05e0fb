// The hardware family's RMSNorm forward and backward for rows of any width (scalar loads: a row whose width is not
// a multiple of 4 does not start on a 16-byte boundary); the kernels are in _hw_rmsnorm.wgsl.
// #include _hw_q1
// #include _hw_rows
// #include _hw_reduce
// #include _hw_colsum
// #include _hw_rmsnorm_x
// #include _hw_rmsnorm_y
// #include _hw_rmsnorm
