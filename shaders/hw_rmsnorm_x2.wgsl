// The hardware family's RMSNorm for rows of f16 activations whose width is even but not a multiple of 4 (vec2
// loads: a Q is one word of two f16 values, so no two invocations store halves of one word); used only through
// its +x16 / +y16 variants (ops/rmsnorm.ts). The kernels are in _hw_rmsnorm.wgsl.
// #include _hw_q2
// #include _hw_rows
// #include _hw_reduce
// #include _hw_colsum
// #include _hw_rmsnorm_x
// #include _hw_rmsnorm_y
// #include _hw_rmsnorm
