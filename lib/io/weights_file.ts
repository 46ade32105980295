/**
 * Which reader a weight file needs, told from its first bytes by full signatures, never by one byte:
 *   torch-zip     `PK\x03\x04`, a zip local header (torch.save's format since PyTorch 1.6)
 *   safetensors   an 8-byte little-endian header length that fits the file, then a JSON object ('{')
 *   torch-legacy  0x80 then a protocol byte 2..5: a pickle (torch.save before 1.6)
 * The safetensors test comes before the pickle one: a header length of 640 + 256k is written
 * `80 02 ...`, which a two-byte pickle test would take for protocol 2. A real pickle's next bytes
 * (opcodes) do not make a length that fits the file and is followed by '{'.
 */
import { isSafetensorsHeader, parseSafetensors } from './safetensors';
import { readWhole } from './read_file';
import { parseTorch } from './torch';
import { WeightFile } from './types';

export type WeightFormat = 'torch-zip' | 'torch-legacy' | 'safetensors';

/** The format of a weight file's bytes, or null when none of the three signatures is there. */
export function detectWeightFormat(buf: Uint8Array): WeightFormat | null {
  if (buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04) return 'torch-zip';
  if (isSafetensorsHeader(buf)) return 'safetensors';
  if (buf.length >= 2 && buf[0] === 0x80 && buf[1] >= 2 && buf[1] <= 5) return 'torch-legacy';
  return null;
}

/**
 * Parses weight-file bytes of either format. Bytes with no known signature go to the safetensors
 * reader, whose ERR_FORMAT says what is wrong with the header (the usual case: a damaged file).
 */
export function parseWeights(buf: Buffer, source = '<buffer>'): WeightFile {
  const format = detectWeightFormat(buf);
  return format === 'torch-zip' || format === 'torch-legacy' ? parseTorch(buf, source) : parseSafetensors(buf, source);
}

/** Reads a .safetensors file or a PyTorch .pth/.pt checkpoint, whichever its contents are. */
export function loadWeights(path: string): WeightFile {
  return parseWeights(readWhole(path), path);
}
