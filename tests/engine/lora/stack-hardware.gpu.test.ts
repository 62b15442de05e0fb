// Stacked LoRA groups against the unstacked adapter on the hardware kernel family (ALLOY_KERNELS=hardware; the
// suite: stack-suite.ts). Bit for bit wherever the products are the same; over K = 256 tokens a lone dA product
// splits its K (matmul-hw.ts hwSplitK) and the group's batched one does not, so the sums differ by f32 rounding:
// tol 2e-6 of each tensor's largest element (measured 5.6e-7 on SwiftShader; printed by the run).
import { stackSuite } from './stack-suite.ts';

// read when this file's device is first acquired (vitest runs each GPU test file in its own process)
process.env.ALLOY_KERNELS = 'hardware';

stackSuite('hardware', 2e-6);
