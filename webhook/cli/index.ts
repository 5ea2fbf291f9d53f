// webhook/cli: the command line (serve, review, check, reconcile); nothing imports it.
export { main } from './main';
