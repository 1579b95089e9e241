import { TelaMonitoramento } from "__NS__/TelaMonitoramento";
import { carregarMonitoramento, type PropsMonitoramento } from "__NS__/pages-router";

export const getServerSideProps = carregarMonitoramento;

export default function MonitoramentoPage({ estado }: PropsMonitoramento) {
  return <TelaMonitoramento estado={estado} />;
}
