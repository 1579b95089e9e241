// Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept).
import { PainelDeImagens } from "../../imagefill/PainelDeImagens";

export default function MonitoramentoPage() {
  return <PainelDeImagens />;
}
