import { TelaMonitoramento } from "__NS__/TelaMonitoramento";
import { carregarMonitoramento } from "__NS__/pages-router";
export const getServerSideProps = carregarMonitoramento;
export default function MonitoramentoPage({ estado }) {
    return <TelaMonitoramento estado={estado}/>;
}
