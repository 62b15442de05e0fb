// An Io for main() that keeps what a command prints (and hands each stdout chunk to onOut, e.g. to cancel on a line).
import type { Io } from '../../src/cli/main.ts';

export function capture(onOut?: (s: string) => void): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (s: string) => {
      io.stdout += s;
      onOut?.(s);
    },
    err: (s: string) => void (io.stderr += s),
  };
  return io;
}
