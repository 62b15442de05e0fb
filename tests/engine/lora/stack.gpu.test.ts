// Stacked LoRA groups against the unstacked adapter on the software kernel family (the suite: stack-suite.ts).
// Every product a member runs is the one it ran alone, so everything is expected bit for bit (tol 0).
import { stackSuite } from './stack-suite.ts';

stackSuite('software', 0);
