import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  bytesHeld,
  gaps,
  keepPrefixOnly,
  merged,
  pieces,
  prefixEnd,
  readRecord,
  RecordWriter,
} from '../../src/transfer/ranges.js';

/** A path for a partial download in a fresh folder. */
const partialIn = async () => join(await mkdtemp(join(tmpdir(), 'frozen-ranges-')), 'blob.partial');

describe('intervals of a download in ranges', () => {
  test('merged sorts and joins intervals that touch or overlap', () => {
    expect(
      merged([
        [10, 20],
        [0, 5],
        [5, 8],
        [15, 30],
        [40, 40],
      ]),
    ).toEqual([
      [0, 8],
      [10, 30],
    ]);
  });

  test('gaps are what is missing of [0, size)', () => {
    expect(
      gaps(
        [
          [0, 5],
          [10, 20],
        ],
        30,
      ),
    ).toEqual([
      [5, 10],
      [20, 30],
    ]);
    expect(gaps([], 7)).toEqual([[0, 7]]);
    expect(gaps([[0, 7]], 7)).toEqual([]);
  });

  test('the prefix ends where the first interval from 0 ends', () => {
    expect(
      prefixEnd([
        [0, 5],
        [6, 9],
      ]),
    ).toBe(5);
    expect(prefixEnd([[1, 5]])).toBe(0);
    expect(prefixEnd([])).toBe(0);
  });

  test('pieces split the missing bytes evenly over the connections, none below the minimum, covering them exactly', () => {
    expect(pieces([[0, 120]], 4, 10)).toEqual([
      [0, 30],
      [30, 60],
      [60, 90],
      [90, 120],
    ]);
    expect(pieces([[0, 120]], 4, 50)).toEqual([
      [0, 60],
      [60, 120],
    ]);
    const split = pieces(
      [
        [0, 10],
        [50, 130],
      ],
      3,
      1,
    );
    expect(merged(split)).toEqual([
      [0, 10],
      [50, 130],
    ]);
    expect(split.length).toBe(4);
  });
});

describe('the record beside the partial', () => {
  test('written by RecordWriter, read back for the same size; another size or a bad record gives nothing', async () => {
    const partial = await partialIn();
    const have: [number, number][] = [
      [0, 4],
      [8, 12],
    ];
    const writer = new RecordWriter(partial, 16, () => have, 5);
    await writer.flush();
    expect(await readRecord(partial, 16)).toEqual(have);
    expect(await readRecord(partial, 17)).toEqual([]);
    await writeFile(`${partial}.ranges`, '{"size":16,"have":[[0,');
    expect(await readRecord(partial, 16)).toEqual([]);
    await writeFile(`${partial}.ranges`, '{"size":16,"have":[[0,4],[3,-1],["a",2],[12,99]]}');
    expect(await readRecord(partial, 16)).toEqual([[0, 4]]);
  });

  test('changes reach the record within the interval, without a flush', async () => {
    const partial = await partialIn();
    const have: [number, number][] = [[0, 1]];
    const writer = new RecordWriter(partial, 8, () => have, 5);
    writer.changed();
    have.push([2, 3]);
    writer.changed();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(JSON.parse(await readFile(`${partial}.ranges`, 'utf8'))).toEqual({
      size: 8,
      have: [
        [0, 1],
        [2, 3],
      ],
    });
  });

  test('a download in one stream keeps only the prefix of a partial written in ranges, and drops the record', async () => {
    const partial = await partialIn();
    await writeFile(partial, Buffer.alloc(16, 1));
    await writeFile(
      `${partial}.ranges`,
      JSON.stringify({
        size: 16,
        have: [
          [0, 6],
          [10, 16],
        ],
      }),
    );
    await keepPrefixOnly(partial);
    expect((await stat(partial)).size).toBe(6);
    await expect(stat(`${partial}.ranges`)).rejects.toThrow();
  });
});

describe('bytesHeld: the progress another process watches', () => {
  test("a partial written in ranges holds what its record names, not its file's size (its highest byte written)", async () => {
    const partial = await partialIn();
    await writeFile(partial, Buffer.alloc(900)); // bytes 0-99 and 800-899 written, a hole between
    await writeFile(
      `${partial}.ranges`,
      JSON.stringify({
        size: 1000,
        have: [
          [0, 100],
          [800, 900],
        ],
      }),
    );
    expect(await bytesHeld(partial, 1000)).toBe(200);
  });

  test('a partial in one stream (no record) holds its size; so does one of a blob whose size nobody said', async () => {
    const partial = await partialIn();
    await writeFile(partial, Buffer.alloc(300));
    expect(await bytesHeld(partial, 1000)).toBe(300);
    expect(await bytesHeld(partial, undefined)).toBe(300);
  });
});
