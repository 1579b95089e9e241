// Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept).
import { ESTILOS } from "./css";

/** The panel's stylesheet, inline (as HTML, so quotes in selectors are not escaped). */
export function Estilos() {
  return <style data-imagefill="" dangerouslySetInnerHTML={{ __html: ESTILOS }} />;
}
