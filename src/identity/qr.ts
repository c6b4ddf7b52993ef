import QRCode from 'qrcode';

/** A PNG of the otpauth URI as base64 (no data: prefix, as the original's create_qr returned). */
export async function qrPngBase64(text: string): Promise<string> {
  const png = await QRCode.toBuffer(text, { type: 'png', errorCorrectionLevel: 'M', margin: 2, scale: 6 });
  return png.toString('base64');
}
