// Command kubectl is the upstream kubectl (k8s.io/kubectl, the version in go.mod), built from
// the Go module proxy by `scripts/install.sh kubectl` where no kubectl with kustomize v5 is
// installed (Debian 12's kubernetes-client is 1.20, whose kustomize cannot build the
// manifests). scripts/kube.sh and its tests (etl/manifest) use it. Its own module, so that the
// project's go.mod does not carry kubectl's dependencies.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
