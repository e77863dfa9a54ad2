// Progress for one epoch: a redrawn bar on a terminal, plain lines (every ~10%) otherwise.
export interface Progress {
  update(done: number, stats: { loss: number; acc: number; rate: number }): void;
  end(): void;
}

export function progress(label: string, total: number, batchSize: number, out: NodeJS.WriteStream = process.stdout): Progress {
  const tty = !!out.isTTY;
  const t0 = performance.now();
  let lastPlain = -1;
  const line = (done: number, s: { loss: number; acc: number; rate: number }) => {
    const secs = (performance.now() - t0) / 1000;
    const sps = (done * batchSize) / Math.max(secs, 1e-9);
    const eta = done ? ((total - done) * secs) / done : 0;
    return `${label} ${done}/${total} loss ${s.loss.toFixed(4)} acc ${(100 * s.acc).toFixed(2)}% rate ${s.rate.toFixed(4)} ${sps.toFixed(0)} samples/s ETA ${eta.toFixed(0)}s`;
  };
  return {
    update(done, s) {
      if (tty) {
        const width = 24;
        const fill = Math.round((done / total) * width);
        out.write(`\r\x1b[2K[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${line(done, s)}`);
      } else {
        const decile = Math.floor((10 * done) / total);
        if (decile !== lastPlain && (decile > lastPlain || done === total)) {
          lastPlain = decile;
          out.write(`${line(done, s)}\n`);
        }
      }
    },
    end() {
      if (tty) out.write('\n');
    },
  };
}
