// e2e tests wait for a real API server, kube-controller-manager and child processes: give them minutes, not 5 s.
jest.setTimeout(120_000);
