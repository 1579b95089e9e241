// Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept).
import { rota } from "../../../../imagefill/app-router";

export const GET = rota("audit");
