import { readFile, writeFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/**
 * Writes a zip archive of `entries` without compression (an exported generator is float32 weights,
 * which barely compress). Names are stored as UTF-8; no zip64, so each file stays under 4 GiB.
 */
export async function writeStoredZip(
  zipPath: string,
  entries: Array<{ name: string; file: string }>,
): Promise<void> {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const { time, date } = dosTime(new Date());
  for (const entry of entries) {
    const data = await readFile(entry.file);
    const name = Buffer.from(entry.name, 'utf8');
    const crc = crc32(data);
    const fields = { time, date, crc, size: data.length, nameLength: name.length };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeEntryFields(local, 4, fields);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4); // version made by
    writeEntryFields(header, 6, fields);
    header.writeUInt32LE(offset, 42);
    parts.push(local, name, data);
    central.push(header, name);
    offset += local.length + name.length + data.length;
  }
  const centralSize = central.reduce((sum, b) => sum + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  await writeFile(zipPath, Buffer.concat([...parts, ...central, end]), { flag: 'wx' });
}

/**
 * The fields the local header and the central directory both carry, in the same order: version needed,
 * flags, method, time, date, CRC-32, sizes and the name's length (the extra field's length stays 0).
 */
function writeEntryFields(
  buffer: Buffer,
  at: number,
  f: { time: number; date: number; crc: number; size: number; nameLength: number },
): void {
  buffer.writeUInt16LE(20, at); // version needed
  buffer.writeUInt16LE(0x0800, at + 2); // UTF-8 names
  buffer.writeUInt16LE(0, at + 4); // stored
  buffer.writeUInt16LE(f.time, at + 6);
  buffer.writeUInt16LE(f.date, at + 8);
  buffer.writeUInt32LE(f.crc, at + 10);
  buffer.writeUInt32LE(f.size, at + 14); // compressed
  buffer.writeUInt32LE(f.size, at + 18);
  buffer.writeUInt16LE(f.nameLength, at + 22);
}

function dosTime(d: Date): { time: number; date: number } {
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
    date: ((Math.max(d.getFullYear(), 1980) - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}
