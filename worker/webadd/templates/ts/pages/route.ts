import { rota } from "__NS__/pages-router";

export default rota("__ACAO__");
