import { PainelDeImagens } from "__NS__/PainelDeImagens";
export default function MonitoramentoPage() {
    return <PainelDeImagens />;
}
