package manifest

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestNetworkPolicies evaluates the built policies: default deny; ETL pods reach only PostGIS,
// InfluxDB, DNS and HTTPS; nginx takes traffic on its port only; InfluxDB only from osmtrack's
// pods and Grafana, its RPC port only from the backup Jobs.
func TestNetworkPolicies(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	for _, dir := range builds {
		b := load(t, dir)
		podLabels := func(kind, name string) map[string]string {
			switch o := b.Get(kind, name).Typed.(type) {
			case *batchv1.CronJob:
				return o.Spec.JobTemplate.Spec.Template.Labels
			case *appsv1.Deployment:
				return o.Spec.Template.Labels
			case *appsv1.StatefulSet:
				return o.Spec.Template.Labels
			}
			t.Fatalf("no pods of %s %s", kind, name)
			return nil
		}
		pod := func(l map[string]string) Peer { return Peer{Labels: l} }
		fetch, backupIx, publish, smoke := podLabels("CronJob", "osmtrack-fetch"), podLabels("CronJob", "osmtrack-backup-influxdb"),
			podLabels("CronJob", "osmtrack-publish"), podLabels("CronJob", "osmtrack-smoke")
		site, influx := podLabels("Deployment", "osmtrack-site"), podLabels("StatefulSet", "influxdb")
		stranger := map[string]string{"app.kubernetes.io/name": "something-else"}
		dns := Peer{Labels: map[string]string{"k8s-app": "kube-dns"}, Namespace: "kube-system", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}
		grafana := Peer{Labels: map[string]string{"app.kubernetes.io/name": "grafana"}, Namespace: "monitoring", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}
		postgis := Peer{IP: "10.20.0.5"} // inside the production overlay's range
		osmServer := Peer{IP: "184.104.179.140"}
		cases := []struct {
			what   string
			pod    map[string]string
			egress bool
			peer   Peer
			proto  corev1.Protocol
			port   int32
			want   bool
		}{
			{"fetch → DNS", fetch, true, dns, udp, 53, true},
			{"fetch → PostGIS", fetch, true, postgis, tcp, 5432, true},
			{"fetch → InfluxDB", fetch, true, pod(influx), tcp, 8086, true},
			{"fetch → HTTPS (OSM)", fetch, true, osmServer, tcp, 443, true},
			{"fetch → HTTP (OSM)", fetch, true, osmServer, tcp, 80, false},
			{"fetch → HTTPS inside the cluster network", fetch, true, Peer{IP: "10.1.2.3"}, tcp, 443, false},
			{"fetch → InfluxDB RPC", fetch, true, pod(influx), tcp, 8088, false},
			{"fetch → nginx", fetch, true, pod(site), tcp, 8080, false},
			{"publish → PostGIS", publish, true, postgis, tcp, 5432, true},
			{"backup-influxdb → InfluxDB RPC", backupIx, true, pod(influx), tcp, 8088, true},
			{"smoke → nginx", smoke, true, pod(site), tcp, 8080, true},
			{"nginx → anything", site, true, osmServer, tcp, 443, false},
			{"nginx → InfluxDB", site, true, pod(influx), tcp, 8086, false},
			{"nginx ← anyone on 8080", site, false, Peer{IP: "203.0.113.9"}, tcp, 8080, true},
			{"nginx ← another port", site, false, Peer{IP: "203.0.113.9"}, tcp, 22, false},
			{"InfluxDB ← fetch", influx, false, pod(fetch), tcp, 8086, true},
			{"InfluxDB ← Grafana", influx, false, grafana, tcp, 8086, true},
			{"InfluxDB ← nginx", influx, false, pod(site), tcp, 8086, false},
			{"InfluxDB ← another namespace", influx, false, Peer{Labels: stranger, Namespace: "x", NamespaceLabels: map[string]string{}}, tcp, 8086, false},
			{"InfluxDB RPC ← fetch", influx, false, pod(fetch), tcp, 8088, false},
			{"InfluxDB RPC ← backup-influxdb", influx, false, pod(backupIx), tcp, 8088, true},
			{"InfluxDB → anything", influx, true, osmServer, tcp, 443, false},
			{"a stranger pod → HTTPS (default deny)", stranger, true, osmServer, tcp, 443, false},
			{"a stranger pod ← anyone (default deny)", stranger, false, Peer{IP: "203.0.113.9"}, tcp, 80, false},
		}
		for _, c := range cases {
			if got := b.Allowed(c.pod, c.egress, c.peer, c.proto, c.port); got != c.want {
				t.Errorf("%s: %s: allowed %v, want %v", dir, c.what, got, c.want)
			}
		}
	}
}
