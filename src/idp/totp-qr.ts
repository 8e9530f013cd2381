import QRCode from 'qrcode'

/**
 * What an authenticator-app enrolment page shows, for citizens (account/routes.ts) and
 * officers (console/): the QR code as server-rendered SVG, so it shows without JavaScript
 * and without an image request, and the secret in groups of four for typing.
 */
export async function totpEnrolmentView(enrolment: {
  readonly secret: string
  readonly uri: string
}): Promise<{ qrSvg: string; secretGroups: string[] }> {
  const qrSvg = await QRCode.toString(enrolment.uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 })
  return { qrSvg, secretGroups: enrolment.secret.match(/.{1,4}/g) ?? [] }
}
