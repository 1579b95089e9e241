import { rota } from "__NS__/app-router";

export const __METODO__ = rota("__ACAO__");
