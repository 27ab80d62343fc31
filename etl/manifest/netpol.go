package manifest

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Peer is one end of a connection for Allowed: a pod (its labels and its namespace's labels)
// or an address outside the cluster.
type Peer struct {
	Labels          map[string]string
	Namespace       string            // "" for the build's namespace
	NamespaceLabels map[string]string // labels of the peer's namespace
	IP              string            // set for an address outside the cluster
}

// Allowed reports whether the build's NetworkPolicies let traffic of proto to port go out of a
// pod labelled from (egress == true), or into it from peer (egress == false). It follows the
// NetworkPolicy semantics: a pod selected by no policy of that direction is open; otherwise
// some rule of a policy selecting it must admit the peer and the port.
func (b *Build) Allowed(pod map[string]string, egress bool, peer Peer, proto corev1.Protocol, port int32) bool {
	dir := networkingv1.PolicyTypeIngress
	if egress {
		dir = networkingv1.PolicyTypeEgress
	}
	selected := false
	for _, o := range b.Objects {
		np, ok := o.Typed.(*networkingv1.NetworkPolicy)
		if !ok || !selects(np.Spec.PodSelector.MatchLabels, pod) || !hasType(np, dir) {
			continue
		}
		selected = true
		if egress {
			for _, r := range np.Spec.Egress {
				if peersMatch(r.To, peer) && portsMatch(r.Ports, proto, port) {
					return true
				}
			}
		} else {
			for _, r := range np.Spec.Ingress {
				if peersMatch(r.From, peer) && portsMatch(r.Ports, proto, port) {
					return true
				}
			}
		}
	}
	return !selected
}

func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || len(np.Spec.Egress) > 0
	}
	for _, pt := range np.Spec.PolicyTypes {
		if pt == t {
			return true
		}
	}
	return false
}

func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, p Peer) bool {
	if len(peers) == 0 {
		return true // no from/to: everyone
	}
	for _, np := range peers {
		switch {
		case np.IPBlock != nil:
			if p.IP == "" {
				continue
			}
			addr, err := netip.ParseAddr(p.IP)
			if err != nil {
				continue
			}
			if pfx, err := netip.ParsePrefix(np.IPBlock.CIDR); err != nil || !pfx.Contains(addr) {
				continue
			}
			excluded := false
			for _, e := range np.IPBlock.Except {
				if pfx, err := netip.ParsePrefix(e); err == nil && pfx.Contains(addr) {
					excluded = true
				}
			}
			if !excluded {
				return true
			}
		case p.IP != "":
			continue
		case np.NamespaceSelector != nil:
			if selects(np.NamespaceSelector.MatchLabels, p.NamespaceLabels) &&
				(np.PodSelector == nil || selects(np.PodSelector.MatchLabels, p.Labels)) {
				return true
			}
		case np.PodSelector != nil:
			if p.Namespace == "" && selects(np.PodSelector.MatchLabels, p.Labels) {
				return true
			}
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pr := corev1.ProtocolTCP
		if p.Protocol != nil {
			pr = *p.Protocol
		}
		if pr != proto {
			continue
		}
		if p.Port == nil || (p.Port.IntVal == port && p.EndPort == nil) || (p.EndPort != nil && port >= p.Port.IntVal && port <= *p.EndPort) {
			return true
		}
	}
	return false
}
