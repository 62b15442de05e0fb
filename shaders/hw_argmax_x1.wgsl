// The hardware family's row-wise argmax for rows of any width (scalar loads); the kernel is in _hw_argmax.wgsl.
// #include _hw_q1
// #include _hw_rows
// #include _hw_reduce
// #include _hw_argmax
