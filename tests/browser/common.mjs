// What the client scripts share: their checks, and starting `rhein serve --ephemeral`.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Prints `ok - what`, or throws `not ok - what`. */
export function check(condition, what) {
  if (!condition) throw new Error(`not ok - ${what}`);
  console.log(`ok - ${what}`);
}

/** Starts `binary serve --ephemeral ...args`; resolves with the child and its ready line once
 *  it listens. The server goes when this process does. */
export function startServer(binary, args) {
  const child = spawn(binary, ['serve', '--ephemeral', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve({ child, ready: JSON.parse(line) }));
    child.once('exit', (code) => reject(new Error(`rhein exited with ${code}`)));
  });
}
