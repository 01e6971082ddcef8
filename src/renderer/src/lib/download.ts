/**
 * Browser (`kao serve`): hands a file the server prepared to the browser's downloads. The URL is a
 * same-origin, one-time `/download/<id>` path; the session cookie goes with it, and the server's
 * `Content-Disposition: attachment` names the file.
 */
export function startDownload(url: string, fileName: string): void {
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.rel = 'noopener';
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
}
