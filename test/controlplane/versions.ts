/**
 * Versions of the control-plane components the end-to-end suites build from
 * the Go module proxy. Each must match the `require` line of its wrapper
 * module under go/; the cache key includes both, so bumping one rebuilds.
 */
export const versions = {
  /** Newest v1.36 line: constrained impersonation (KEP-5284) is beta and on by default. */
  kubernetes: 'v1.36.3',
  /** Kubernetes v1.36 is built against etcd 3.6. */
  etcd: 'v3.6.16',
  helm: 'v4.3.1',
  /** Oldest Go that builds all three (k8s.io/kubernetes v1.36 says `go 1.26.0`). */
  go: '1.26',
  /**
   * k8s.io/cri-streaming, the kubelet's streaming server from the same
   * Kubernetes release, which the test kubelet (go/testkubelet) is built on.
   */
  testkubelet: 'v0.36.3',
} as const;

export type Component = 'kubernetes' | 'etcd' | 'helm' | 'testkubelet';

/** What each wrapper module builds, and the version ldflags upstream's build sets. */
export const components: Record<
  Component,
  {
    module: string;
    packages: string[];
    binaries: string[];
    ldflags: string[];
    /** Source files of the wrapper module itself, hashed into the cache key with go.mod and go.sum. */
    sources?: string[];
  }
> = {
  kubernetes: {
    module: 'kubernetes',
    packages: [
      'k8s.io/kubernetes/cmd/kube-apiserver',
      'k8s.io/kubernetes/cmd/kube-controller-manager',
      'k8s.io/kubernetes/cmd/kubectl',
    ],
    binaries: ['kube-apiserver', 'kube-controller-manager', 'kubectl'],
    // Without these /version reports v0.0.0-master and version-aware clients
    // (kubectl's skew warning, helm's kubeVersion checks) misbehave.
    ldflags: [
      `-X k8s.io/component-base/version.gitVersion=${versions.kubernetes}`,
      `-X k8s.io/component-base/version.gitMajor=${versions.kubernetes.split('.')[0]!.slice(1)}`,
      `-X k8s.io/component-base/version.gitMinor=${versions.kubernetes.split('.')[1]}`,
      '-X k8s.io/component-base/version.gitTreeState=clean',
      // The tag's time as the module proxy reports it, so builds are reproducible.
      '-X k8s.io/component-base/version.buildDate=2026-07-22T18:07:38Z',
    ],
  },
  etcd: {
    module: 'etcd',
    packages: ['.'],
    binaries: ['etcd'],
    ldflags: [],
  },
  helm: {
    module: 'helm',
    packages: ['helm.sh/helm/v4/cmd/helm'],
    binaries: ['helm'],
    ldflags: [`-X helm.sh/helm/v4/internal/version.version=${versions.helm}`],
  },
  testkubelet: {
    module: 'testkubelet',
    packages: ['.'],
    binaries: ['testkubelet'],
    ldflags: [],
    sources: ['main.go'],
  },
};
