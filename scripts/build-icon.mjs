// resources/icon.svg → resources/icon.png (1024×1024), the picture electron-builder makes every platform's
// icon from (.icns, .ico, the Linux sizes). Run by `npm run dist`; the PNG is a build output, not committed.
import sharp from 'sharp';
import { fileURLToPath } from 'node:url';

const svg = fileURLToPath(new URL('../resources/icon.svg', import.meta.url));
const png = fileURLToPath(new URL('../resources/icon.png', import.meta.url));
await sharp(svg, { density: 1024 }).resize(1024, 1024).png().toFile(png);
console.log(`wrote ${png}`);
