// The SSE parser against the WHATWG rules, fed in every way a network can cut a stream.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseParser, type SseMessage } from '../../client/sse-parser.js';

interface Parsed {
  messages: SseMessage[];
  retries: number[];
  comments: string[];
}

function collector(): { parser: SseParser; out: Parsed } {
  const out: Parsed = { messages: [], retries: [], comments: [] };
  const parser = new SseParser({
    onMessage: (m) => out.messages.push(m),
    onRetry: (ms) => out.retries.push(ms),
    onComment: (c) => out.comments.push(c),
  });
  return { parser, out };
}

/** Parses the chunks (bytes or strings) and ends the stream. */
function parse(chunks: Array<Uint8Array | string>): Parsed {
  const { parser, out } = collector();
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return out;
}

const bytes = (text: string) => new TextEncoder().encode(text);

/** Cuts bytes at the given offsets. */
function cut(all: Uint8Array, offsets: number[]): Uint8Array[] {
  const points = [...new Set(offsets.map((o) => o % (all.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    out.push(all.subarray(start, p));
    start = p;
  }
  out.push(all.subarray(start));
  return out;
}

/** Every single split point, and every byte alone: the cuts most likely to break a parser. */
function everyWay(text: string): Uint8Array[][] {
  const all = bytes(text);
  const ways: Uint8Array[][] = [[all], [...all].map((b) => Uint8Array.of(b))];
  for (let i = 1; i < all.length; i++) ways.push([all.subarray(0, i), all.subarray(i)]);
  return ways;
}

const msg = (type: string, data: string, lastEventId = ''): SseMessage => ({ type, data, lastEventId });

describe('SseParser', () => {
  it('parses our broker frames (no space after the colon)', () => {
    const out = parse(['retry:2000\n\nevent:title\nid:1\ndata:{"a":1}\n\n:\n\nevent:body\nid:2\ndata:"x"\n\n']);
    expect(out.retries).toEqual([2000]);
    expect(out.comments).toEqual(['']);
    expect(out.messages).toEqual([msg('title', '{"a":1}', '1'), msg('body', '"x"', '2')]);
  });

  it('accepts LF, CRLF and CR line ends, mixed in one stream', () => {
    const expected = [msg('a', 'one', '1'), msg('b', 'two', '2'), msg('c', 'three', '3')];
    expect(
      parse(['event:a\nid:1\ndata:one\n\nevent:b\r\nid:2\r\ndata:two\r\n\r\nevent:c\rid:3\rdata:three\r\r']).messages,
    ).toEqual(expected);
    expect(
      parse(['event:a\r\nid:1\ndata:one\r\r\nevent:b\rid:2\r\ndata:two\n\revent:c\nid:3\rdata:three\r\n\n']).messages,
    ).toEqual(expected);
  });

  it('treats a CRLF split between two chunks as one line end, not two', () => {
    // Read as two line ends, "\r" | "\n" would be an empty line: the frame would be dispatched early,
    // as two events "a" and "b" instead of one "a\nb".
    expect(parse(['data:a\r', '\ndata:b\r', '\n\r', '\n']).messages).toEqual([msg('message', 'a\nb')]);
    // A lone CR at a chunk end followed by a non-LF is still a line end.
    expect(parse(['data:a\r', 'data:b\r', '\r']).messages).toEqual([msg('message', 'a\nb')]);
    // And a CR at a chunk end followed by an empty chunk, then the LF.
    expect(parse(['data:a\r', '', '\n\n']).messages).toEqual([msg('message', 'a')]);
  });

  it('decodes multi-byte UTF-8 cut anywhere, including inside a character', () => {
    const text = 'event:ünïcödé\nid:7\ndata:{"v":"é€😀中文"}\n\n';
    for (const chunks of everyWay(text)) {
      expect(parse(chunks).messages).toEqual([msg('ünïcödé', '{"v":"é€😀中文"}', '7')]);
    }
  });

  it('replaces invalid UTF-8 with U+FFFD instead of failing', () => {
    expect(parse([Uint8Array.of(...bytes('data:a'), 0xff, ...bytes('b\n\n'))]).messages).toEqual([
      msg('message', 'a\ufffdb'),
    ]);
  });

  it('ignores one leading BOM, even cut across chunks, but not a second one', () => {
    for (const chunks of everyWay('\ufeffdata:x\n\n')) expect(parse(chunks).messages).toEqual([msg('message', 'x')]);
    expect(parse(['\ufeffdata:x\n\n']).messages).toEqual([msg('message', 'x')]);
    // A second BOM is part of the field name "\ufeffdata", an unknown field: nothing is dispatched.
    expect(parse(['\ufeff\ufeffdata:x\n\n']).messages).toEqual([]);
    // A BOM later in the stream is data, not stripped.
    expect(parse(['data:x\n\n\ufeffdata:y\n\ndata:\ufeffz\n\n']).messages).toEqual([
      msg('message', 'x'),
      msg('message', '\ufeffz'),
    ]);
  });

  it('joins multi-line data with LF and keeps empty data lines', () => {
    expect(parse(['data:first\ndata:\ndata:third\n\n']).messages).toEqual([msg('message', 'first\n\nthird')]);
    expect(parse(['data:\n\n']).messages).toEqual([msg('message', '')]);
    expect(parse(['data\ndata\n\n']).messages).toEqual([msg('message', '\n')]);
  });

  it('strips exactly one space after the colon', () => {
    expect(parse(['data: x\n\ndata:  y\n\ndata:z \n\nevent: e\ndata:w\n\n']).messages).toEqual([
      msg('message', 'x'),
      msg('message', ' y'),
      msg('message', 'z '),
      msg('e', 'w'),
    ]);
  });

  it('reads a field without a colon as that field with an empty value', () => {
    // "event" alone sets the type to "", which dispatches as "message".
    expect(parse(['event:x\nevent\ndata:1\n\n']).messages).toEqual([msg('message', '1')]);
    // "id" alone resets the last event id.
    expect(parse(['id:5\ndata:a\n\nid\ndata:b\n\n']).messages).toEqual([
      msg('message', 'a', '5'),
      msg('message', 'b', ''),
    ]);
  });

  it('reports comments and never dispatches them', () => {
    const out = parse([':\n\n: keep-alive\n:x:y\n\n']);
    expect(out.messages).toEqual([]);
    expect(out.comments).toEqual(['', ' keep-alive', 'x:y']);
  });

  it('keeps an id without data for the next event, and the last id across frames', () => {
    const out = parse(['id:10\n\ndata:a\n\nid:11\nevent:x\n\ndata:b\n\n']);
    // "event:x" without data is dropped, and its type with it; the id stays.
    expect(out.messages).toEqual([msg('message', 'a', '10'), msg('message', 'b', '11')]);
    const { parser } = collector();
    parser.feed('id:42\n\n');
    expect(parser.lastId).toBe('42');
  });

  it('ignores an id containing NUL', () => {
    expect(parse(['id:1\ndata:a\n\nid:2\0x\ndata:b\n\n']).messages).toEqual([
      msg('message', 'a', '1'),
      msg('message', 'b', '1'),
    ]);
  });

  it('accepts only ASCII digits in retry', () => {
    expect(parse(['retry:1500\n\nretry: 2500\n\nretry:10a\n\nretry:-1\n\nretry:\n\nretry:1.5\n\n']).retries).toEqual([
      1500, 2500,
    ]);
  });

  it('ignores unknown fields', () => {
    expect(parse(['foo:bar\ndata:a\nDATA:b\nData:c\n\n']).messages).toEqual([msg('message', 'a')]);
  });

  it('discards a frame cut off by the end of the stream', () => {
    expect(parse(['data:complete\n\ndata:partial\n']).messages).toEqual([msg('message', 'complete')]);
    expect(parse(['data:complete\n\ndata:partial']).messages).toEqual([msg('message', 'complete')]);
  });

  it('refuses to be fed after end()', () => {
    const { parser } = collector();
    parser.end();
    expect(() => parser.feed('data:x\n\n')).toThrow(/after end/);
  });

  it('gives the same events however the bytes are cut (property)', () => {
    const name = fc
      .string({ unit: 'grapheme', maxLength: 8 })
      .filter((s) => !/[\r\n]/.test(s) && s.length > 0 && !s.startsWith(' '));
    const dataLine = fc
      .string({ unit: 'grapheme', maxLength: 12 })
      .filter((s) => !/[\r\n]/.test(s) && !s.startsWith(' '));
    const event = fc.record({
      type: name,
      lines: fc.array(dataLine, { minLength: 1, maxLength: 3 }),
      id: fc.nat({ max: 1e9 }),
    });
    const eol = fc.constantFrom('\n', '\r\n', '\r');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(event, eol, fc.boolean()), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        (events, offsets, bom) => {
          let text = bom ? '\ufeff' : '';
          for (const [e, nl, comment] of events) {
            if (comment) text += `:hb${nl}`;
            text += `event:${e.type}${nl}id:${e.id}${nl}`;
            for (const line of e.lines) text += `data:${line}${nl}`;
            text += nl;
          }
          const expected = events.map(([e]) => msg(e.type, e.lines.join('\n'), String(e.id)));
          expect(parse(cut(bytes(text), offsets)).messages).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps up with a large stream fed in small chunks (no quadratic rescans)', () => {
    const frame = `event:e\nid:1\ndata:${'x'.repeat(50)}\n\n`;
    const all = bytes(frame.repeat(20_000));
    const { parser, out } = collector();
    const started = performance.now();
    for (let i = 0; i < all.length; i += 4096) parser.feed(all.subarray(i, i + 4096));
    parser.end();
    expect(out.messages).toHaveLength(20_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
