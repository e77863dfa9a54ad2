// Event streams to frames, as SpikingJelly does it (spikingjelly/datasets/utils.py:
// cal_fixed_frames_number_segment_index, integrate_events_segment_to_frame,
// integrate_events_by_fixed_frames_number), and the ATIS .bin decoder of N-MNIST (load_ATIS_bin).
import { ValueError } from '../errors.js';
import { DatasetError } from './errors.js';

/** Events of a neuromorphic recording: timestamps, coordinates and polarities, one entry per event. */
export interface Events {
  t: ArrayLike<number>;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  p: ArrayLike<number>;
}

/** Decoded ATIS events: t in microseconds (23 bits), x, y, and p ∈ {0, 1}. */
export interface AtisEvents {
  t: Uint32Array;
  x: Uint8Array;
  y: Uint8Array;
  p: Uint8Array;
}

/**
 * Decodes an N-MNIST / ATIS binary file: 5 bytes per event, byte 0 = x, byte 1 = y, bit 7 of byte 2 =
 * polarity, and the low 7 bits of byte 2 with bytes 3–4 the 23-bit timestamp in µs:
 * t = ((b2 & 0x7f) << 16) | (b3 << 8) | b4. A length that is not a multiple of 5 is a DatasetError.
 */
export function decodeAtisEvents(bytes: Uint8Array, file = 'ATIS data'): AtisEvents {
  if (bytes.length % 5 !== 0) {
    throw new DatasetError(`${file}: ${bytes.length} bytes is not a whole number of 5-byte events (truncated or not an ATIS .bin file)`);
  }
  const n = bytes.length / 5;
  const t = new Uint32Array(n), x = new Uint8Array(n), y = new Uint8Array(n), p = new Uint8Array(n);
  for (let i = 0, o = 0; i < n; i++, o += 5) {
    const b2 = bytes[o + 2]!;
    x[i] = bytes[o]!;
    y[i] = bytes[o + 1]!;
    p[i] = b2 >> 7;
    t[i] = ((b2 & 0x7f) << 16) | (bytes[o + 3]! << 8) | bytes[o + 4]!;
  }
  return { t, x, y, p };
}

export type SplitBy = 'number' | 'time';

export interface SegmentOptions {
  /**
   * 'time' only: how the window length is computed from the span t[N-1] − t[0]. 'floor' (default):
   * integer floor division, as SpikingJelly's utils does for integer µs timestamps (N-MNIST, DVS);
   * 'exact': real division, as SpikingJelly's SHD module does for float seconds.
   */
  dt?: 'floor' | 'exact';
}

/**
 * SpikingJelly's segment indices for T frames: events j_l[i] ≤ j < j_r[i] go to frame i.
 *
 * 'number': di = ⌊N / T⌋, j_l[i] = i·di, j_r[i] = j_l[i] + di, and j_r[T−1] = N (the last frame takes
 * the remainder).
 * 'time': dt = (t[N−1] − t[0]) / T (floored, see `dt`), window i = [t[0] + i·dt, t[0] + (i+1)·dt);
 * j_l[i] = the first index whose t is in window i, j_r[i] = the last such index + 1, and j_r[T−1] = N
 * (so events at or after t[0] + T·dt, the rounding remainder, go to the last frame).
 *
 * Where SpikingJelly raises (an empty window, N = 0, or t[N−1] − t[0] < T so that dt = 0), this
 * returns an empty segment (j_l = j_r) for that frame instead; the last frame then starts at the first
 * event with t ≥ its window start (or N). With non-empty windows the indices are SpikingJelly's exactly.
 */
export function segmentIndices(t: ArrayLike<number>, T: number, splitBy: SplitBy, options: SegmentOptions = {}): { jl: Int32Array; jr: Int32Array } {
  if (!Number.isInteger(T) || T < 1) throw new ValueError(`segmentIndices: T must be a positive integer, got ${T}`);
  const N = t.length;
  const jl = new Int32Array(T), jr = new Int32Array(T);
  if (splitBy === 'number') {
    const di = Math.floor(N / T);
    for (let i = 0; i < T; i++) {
      jl[i] = i * di;
      jr[i] = jl[i]! + di;
    }
    jr[T - 1] = N;
    return { jl, jr };
  }
  if (splitBy !== 'time') throw new ValueError(`segmentIndices: splitBy must be 'number' or 'time', got ${JSON.stringify(splitBy)}`);
  if (N === 0) return { jl, jr };
  const t0 = t[0]!;
  const span = t[N - 1]! - t0;
  const dt = options.dt === 'exact' ? span / T : Math.floor(span / T);
  // first[i], last[i]: the smallest and largest index of an event inside window i (−1: none).
  const first = new Int32Array(T).fill(-1), last = new Int32Array(T).fill(-1);
  if (dt > 0) {
    for (let k = 0; k < N; k++) {
      const tk = t[k]!;
      if (!(tk >= t0)) continue;
      // Window i holds t_l ≤ t < t_r with SpikingJelly's t_l = dt·i + t[0] and t_r = t_l + dt. The
      // quotient finds i up to one either way (float rounding); the bounds decide, as its masks do.
      const est = Math.floor((tk - t0) / dt);
      for (let i = Math.max(0, est - 1); i <= est + 1 && i < T; i++) {
        const tl = dt * i + t0;
        if (tk >= tl && tk < tl + dt) {
          if (first[i] === -1) first[i] = k;
          last[i] = k;
        }
      }
    }
  }
  for (let i = 0; i < T; i++) {
    if (first[i]! >= 0) {
      jl[i] = first[i]!;
      jr[i] = last[i]! + 1;
    }
  }
  if (first[T - 1]! < 0) {
    const start = dt * (T - 1) + t0;
    let k = 0;
    while (k < N && !(t[k]! >= start)) k++;
    jl[T - 1] = k;
  }
  jr[T - 1] = N;
  return { jl, jr };
}

export interface FrameOptions {
  T: number;
  splitBy: SplitBy;
  H: number;
  W: number;
  dt?: 'floor' | 'exact';
}

/**
 * Integrates events into T two-channel frames, (T, 2, H, W) row-major: frame i counts the events of
 * its segment (`segmentIndices`) at [p][y][x], p = 1 for events with non-zero polarity, as
 * SpikingJelly's integrate_events_by_fixed_frames_number. Coordinates outside the frame throw.
 */
export function integrateEventsToFrames(events: Events, options: FrameOptions, where = 'integrateEventsToFrames'): Float32Array {
  const { T, H, W } = options;
  for (const [k, v] of [['H', H], ['W', W]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ValueError(`${where}: ${k} must be a positive integer, got ${v}`);
  }
  const { x, y, p } = events;
  const N = events.t.length;
  if (x.length !== N || y.length !== N || p.length !== N) {
    throw new ValueError(`${where}: t, x, y and p must have one entry per event, got lengths ${N}, ${x.length}, ${y.length}, ${p.length}`);
  }
  const { jl, jr } = segmentIndices(events.t, T, options.splitBy, { dt: options.dt ?? 'floor' });
  const plane = H * W;
  const frames = new Float32Array(T * 2 * plane);
  for (let i = 0; i < T; i++) {
    const base = i * 2 * plane;
    for (let j = jl[i]!; j < jr[i]!; j++) {
      const xj = x[j]!, yj = y[j]!;
      if (!(xj >= 0 && xj < W && yj >= 0 && yj < H) || !Number.isInteger(xj) || !Number.isInteger(yj)) {
        throw new DatasetError(`${where}: event ${j} at (x=${xj}, y=${yj}) is outside the ${W}×${H} frame`);
      }
      frames[base + (p[j] ? plane : 0) + yj * W + xj] += 1;
    }
  }
  return frames;
}
