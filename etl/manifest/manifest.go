// Package manifest builds osmtrack's Kubernetes manifests offline with the kustomize Go API
// (the engine behind `kubectl apply -k`), decodes every object strictly into the k8s.io/api
// types, and checks them against the rules of docs/deploy.md: the CronJobs' schedules,
// deadlines, failure policy, security context and references, and the binary they run.
package manifest

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one built object, decoded into its k8s.io/api type.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Typed is a pointer to the k8s.io/api type, e.g. *batchv1.CronJob.
	Typed any
}

// ID names the object in messages: "CronJob osmtrack-fetch".
func (o Object) ID() string { return o.Kind + " " + o.Name }

// Build is the decoded output of one kustomization.
type Build struct {
	Dir     string
	Objects []Object
}

// kinds maps apiVersion and kind to a constructor of the typed object. A kind missing here is
// an error: the checker must learn about every kind the manifests use.
var kinds = map[string]func() any{
	"v1/Namespace":                       func() any { return &corev1.Namespace{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                          func() any { return &corev1.Secret{} },
	"v1/PersistentVolumeClaim":           func() any { return &corev1.PersistentVolumeClaim{} },
	"batch/v1/CronJob":                   func() any { return &batchv1.CronJob{} },
	"batch/v1/Job":                       func() any { return &batchv1.Job{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":       func() any { return &networkingv1.Ingress{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
}

// Load builds the kustomization in dir (as `kubectl kustomize dir` does) and decodes every
// object strictly: an unknown or misspelt field, a wrong type, or an unknown kind is an error
// naming the object.
func Load(dir string) (*Build, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	b := &Build{Dir: dir}
	var errs []error
	for _, r := range rm.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err))
			continue
		}
		o, err := Decode(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s %s: %w", dir, r.GetKind(), r.GetName(), err))
			continue
		}
		b.Objects = append(b.Objects, o)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b, nil
}

// Decode decodes one object's JSON strictly into its k8s.io/api type.
func Decode(data []byte) (Object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &head); err != nil {
		return Object{}, err
	}
	mk, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		known := make([]string, 0, len(kinds))
		for k := range kinds {
			known = append(known, k)
		}
		sort.Strings(known)
		return Object{}, fmt.Errorf("unknown apiVersion/kind %s/%s (known: %s)", head.APIVersion, head.Kind, strings.Join(known, ", "))
	}
	typed := mk()
	strict, err := sigsjson.UnmarshalStrict(data, typed)
	if err != nil {
		return Object{}, err
	}
	if len(strict) > 0 {
		return Object{}, fmt.Errorf("strict decoding: %w", errors.Join(strict...))
	}
	return Object{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, Typed: typed}, nil
}

// Get returns the object of kind and name, or nil.
func (b *Build) Get(kind, name string) *Object {
	for i := range b.Objects {
		if b.Objects[i].Kind == kind && b.Objects[i].Name == name {
			return &b.Objects[i]
		}
	}
	return nil
}

// CronJobs returns the CronJobs in build order.
func (b *Build) CronJobs() []*batchv1.CronJob {
	var out []*batchv1.CronJob
	for _, o := range b.Objects {
		if cj, ok := o.Typed.(*batchv1.CronJob); ok {
			out = append(out, cj)
		}
	}
	return out
}

// ConfigMap returns the ConfigMap whose name is name (kustomize may have added a hash suffix
// to the generated name; references in the build carry the suffixed name).
func (b *Build) ConfigMap(name string) *corev1.ConfigMap {
	if o := b.Get("ConfigMap", name); o != nil {
		return o.Typed.(*corev1.ConfigMap)
	}
	return nil
}

// Secret returns the Secret of that name, or nil.
func (b *Build) Secret(name string) *corev1.Secret {
	if o := b.Get("Secret", name); o != nil {
		return o.Typed.(*corev1.Secret)
	}
	return nil
}

// GeneratedName finds the object of kind whose name is base or base plus kustomize's hash
// suffix ("osmtrack-config" → "osmtrack-config-5d8h7c2m4k").
func (b *Build) GeneratedName(kind, base string) string {
	for _, o := range b.Objects {
		if o.Kind != kind {
			continue
		}
		if o.Name == base {
			return o.Name
		}
		if strings.HasPrefix(o.Name, base+"-") && len(o.Name) == len(base)+11 {
			return o.Name
		}
	}
	return ""
}

// PodTemplates returns every pod template in the build with the object that holds it.
func (b *Build) PodTemplates() []PodTemplate {
	var out []PodTemplate
	for _, o := range b.Objects {
		switch t := o.Typed.(type) {
		case *batchv1.CronJob:
			out = append(out, PodTemplate{Owner: o.ID(), Spec: &t.Spec.JobTemplate.Spec.Template.Spec, Labels: t.Spec.JobTemplate.Spec.Template.Labels})
		case *batchv1.Job:
			out = append(out, PodTemplate{Owner: o.ID(), Spec: &t.Spec.Template.Spec, Labels: t.Spec.Template.Labels})
		case *appsv1.Deployment:
			out = append(out, PodTemplate{Owner: o.ID(), Spec: &t.Spec.Template.Spec, Labels: t.Spec.Template.Labels})
		case *appsv1.StatefulSet:
			out = append(out, PodTemplate{Owner: o.ID(), Spec: &t.Spec.Template.Spec, Labels: t.Spec.Template.Labels})
		}
	}
	return out
}

// PodTemplate is a pod spec and who holds it.
type PodTemplate struct {
	Owner  string
	Spec   *corev1.PodSpec
	Labels map[string]string
}
