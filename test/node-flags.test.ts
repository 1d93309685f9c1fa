import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { NODE_FLAGS } from '../src/common/node-flags';

const ROOT = resolve(__dirname, '..');
const read = (file: string) => readFileSync(resolve(ROOT, file), 'utf8');
const flags = NODE_FLAGS.join(' ');

describe('the Node flags edgeban runs with', () => {
  // the shebang and npm start are held to them in cli.test.ts
  test('the systemd example runs the daemon with them', () => {
    expect(read('examples/edgeban.service')).toMatch(new RegExp(`^ExecStart=/usr/bin/node ${flags} /opt/edgeban/dist/src/cli\\.js run `, 'm'));
  });

  test('the shebang runs the command with them: a young generation of at most 4 MiB a semi-space', () => {
    const shebang = read('dist/src/cli.js').split('\n')[0].slice(2).split(' ');
    // the interpreter line as the kernel runs it, with a script in place of the command that reports its heap
    const script =
      "const v8 = require('node:v8'); const a = []; for (let i = 0; i < 2e6; i++) a[i % 5e4] = { i }; console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)";
    const run = spawnSync(shebang[0], [...shebang.slice(1), '-e', script], {
      encoding: 'utf8',
      env: { PATH: `${resolve(process.execPath, '..')}:${process.env.PATH}` },
    });
    expect(run.stderr).toBe('');
    expect(Number(run.stdout)).toBeLessThanOrEqual(2 * 4 * 2 ** 20);
    const plain = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(Number(plain.stdout)).toBeGreaterThan(2 * 4 * 2 ** 20);
  });
});
