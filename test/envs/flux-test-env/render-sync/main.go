// render-sync prints the Flux sync objects (the source and the Kustomization that `spec.sync` asks for) exactly
// as the Flux Operator generates them from a FluxInstance: it runs the operator's own builder
// (internal/builder) with the options FluxInstanceReconciler.build() assembles and the pre-apply steps of
// FluxInstanceReconciler.apply() (internal/controller/fluxinstance_controller.go, lines 308-435 and 467-479 at
// the pinned v0.59.0). The operator itself cannot be built here (a dependency of internal/controller is refused by
// the module proxy), its builder can. test/envs/flux-test-env.sh builds this file inside a copy of the operator's
// module, so it can import the internal package. It mirrors the operator's AGPL-3.0 code and is AGPL-3.0 as that
// is; it is a test tool, never part of the program.
//
// Usage: render-sync [-data-dir DIR] [-all] [-builder-only] fluxinstance.yaml
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/normalize"
	ssautil "github.com/fluxcd/pkg/ssa/utils"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	fluxcdv1 "github.com/controlplaneio-fluxcd/flux-operator/api/v1"
	"github.com/controlplaneio-fluxcd/flux-operator/internal/builder"
)

// defaultDataDir is overridable at link time: -ldflags "-X main.defaultDataDir=..."
var defaultDataDir = "/data"

func main() {
	dataDir := flag.String("data-dir", defaultDataDir, "operator manifests dir (contains flux/ and flux-images/), i.e. the operator image's /data = module config/data")
	all := flag.Bool("all", false, "print all generated objects, not only the sync objects")
	builderOnly := flag.Bool("builder-only", false, "print builder.Build output as-is (skip owner labels / normalize / commonMetadata done in apply())")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [flags] fluxinstance.yaml\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *dataDir, *all, *builderOnly); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// applyCRDDefaults emulates the OpenAPI defaults of the FluxInstance CRD
// (config/crd/bases/fluxcd.controlplane.io_fluxinstances.yaml) that the
// API server would set on admission.
func applyCRDDefaults(raw map[string]any, in *fluxcdv1.FluxInstance) {
	spec, _ := raw["spec"].(map[string]any)
	if in.Namespace == "" {
		in.Namespace = "default" // kubectl apply without -n
	}
	if c := in.Spec.Cluster; c != nil {
		rc, _ := spec["cluster"].(map[string]any)
		if c.Domain == "" {
			c.Domain = "cluster.local"
		}
		if c.Type == "" {
			c.Type = "kubernetes"
		}
		if _, ok := rc["networkPolicy"]; !ok {
			c.NetworkPolicy = true
		}
	}
	if s := in.Spec.Sharding; s != nil && s.Key == "" {
		s.Key = "sharding.fluxcd.io/key"
	}
	if s := in.Spec.Sync; s != nil && s.Interval == nil {
		s.Interval = &metav1.Duration{Duration: time.Minute}
	}
}

func run(path, manifestsDir string, all, builderOnly bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var obj fluxcdv1.FluxInstance
	if err := yaml.UnmarshalStrict(data, &obj); err != nil {
		return fmt.Errorf("parsing FluxInstance (strict): %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return err
	}
	applyCRDDefaults(raw, &obj)

	// ---- verbatim logic of FluxInstanceReconciler.build() (v0.59.0, lines 308-435),
	// with r.StoragePath == manifestsDir (no spec.distribution.artifact) ----
	fluxManifestsDir := filepath.Join(manifestsDir, "flux")
	if _, err := os.Stat(fluxManifestsDir); os.IsNotExist(err) {
		return fmt.Errorf("storage path %s does not exist", fluxManifestsDir)
	}
	tmpDir, err := builder.MkdirTempAbs("", "flux")
	if err != nil {
		return fmt.Errorf("failed to create tmp dir: %w", err)
	}
	defer os.RemoveAll(tmpDir)

	embeddedFluxManifestsDir := filepath.Join(manifestsDir, "flux")
	ver, err := builder.MatchVersionWithEmbedded(fluxManifestsDir, embeddedFluxManifestsDir, obj.Spec.Distribution.Version)
	if err != nil {
		return err
	}

	options := builder.MakeDefaultOptions()
	options.Version = ver
	options.Registry = obj.GetDistribution().Registry
	options.Variant = obj.GetDistribution().Variant
	options.ImagePullSecret = obj.GetDistribution().ImagePullSecret
	options.Namespace = obj.GetNamespace()
	options.Components = obj.GetComponents()
	options.NetworkPolicy = obj.GetCluster().NetworkPolicy
	if obj.GetCluster().Domain != "" {
		options.ClusterDomain = obj.GetCluster().Domain
	}
	options.Patches += builder.GetProfileClusterType(obj.GetCluster().Type)
	options.Patches += builder.GetProfileClusterSize(obj.GetCluster().Size)
	if obj.GetCluster().Multitenant {
		options.Patches += builder.GetProfileMultitenant(obj.GetCluster().TenantDefaultServiceAccount)
	}
	if err := options.ValidateAndPatchComponents(); err != nil {
		return err
	}
	if err := options.ValidateAndApplyWorkloadIdentityConfig(obj.GetCluster()); err != nil {
		return err
	}
	if obj.Spec.Sharding != nil {
		options.ShardingKey = obj.Spec.Sharding.Key
		options.Shards = obj.Spec.Sharding.Shards
		options.ShardingStorage = obj.IsShardingStorageEnabled()
	}
	if obj.Spec.Storage != nil {
		options.ArtifactStorage = &builder.ArtifactStorage{
			Class: obj.Spec.Storage.Class,
			Size:  obj.Spec.Storage.Size,
		}
	}
	syncName := obj.GetNamespace()
	if obj.Spec.Sync != nil {
		if obj.Spec.Sync.Name != "" {
			syncName = obj.Spec.Sync.Name
		}
		options.Sync = &builder.Sync{
			Name:       syncName,
			Kind:       obj.Spec.Sync.Kind,
			Interval:   obj.Spec.Sync.Interval.Duration.String(),
			Ref:        obj.Spec.Sync.Ref,
			PullSecret: obj.Spec.Sync.PullSecret,
			URL:        obj.Spec.Sync.URL,
			Path:       obj.Spec.Sync.Path,
			Provider:   obj.Spec.Sync.Provider,
		}
		if err := options.ValidateSync(); err != nil {
			return err
		}
	}
	if obj.Spec.Kustomize != nil && len(obj.Spec.Kustomize.Patches) > 0 {
		patchesData, err := yaml.Marshal(obj.Spec.Kustomize.Patches)
		if err != nil {
			return fmt.Errorf("failed to parse kustomize patches: %w", err)
		}
		options.Patches += string(patchesData)
	}
	srcDir := filepath.Join(fluxManifestsDir, ver)
	images, err := builder.ExtractComponentImagesWithDigest(filepath.Join(manifestsDir, "flux-images"), options)
	if err != nil {
		fmt.Fprintln(os.Stderr, "warning: falling back to extracting images from manifests:", err)
		images, err = builder.ExtractComponentImages(srcDir, options)
		if err != nil {
			return fmt.Errorf("failed to extract container images from manifests: %w", err)
		}
	}
	options.ComponentImages = images

	res, err := builder.Build(srcDir, tmpDir, options)
	if err != nil {
		return fmt.Errorf("build failed: %w", err)
	}
	objects := res.Objects
	fmt.Fprintf(os.Stderr, "flux version %s, revision %s, %d objects\n", ver, res.Revision, len(objects))

	// ---- pre-apply mutations of FluxInstanceReconciler.apply() (lines 467-479) ----
	if !builderOnly {
		rm := ssa.NewResourceManager(nil, nil, ssa.Owner{Field: "flux-operator", Group: fluxcdv1.GroupVersion.Group})
		rm.SetOwnerLabels(objects, obj.GetName(), obj.GetNamespace())
		if err := normalize.UnstructuredList(objects); err != nil {
			return err
		}
		if cm := obj.Spec.CommonMetadata; cm != nil {
			ssautil.SetCommonMetadata(objects, cm.Labels, cm.Annotations)
		}
	}

	var out strings.Builder
	for _, o := range objects {
		if !all {
			if obj.Spec.Sync == nil || o.GetName() != syncName || o.GetNamespace() != obj.GetNamespace() {
				continue
			}
			gk := o.GroupVersionKind().GroupKind()
			isSource := gk.Group == "source.toolkit.fluxcd.io" && gk.Kind == obj.Spec.Sync.Kind
			isKs := gk.Group == "kustomize.toolkit.fluxcd.io" && gk.Kind == "Kustomization"
			if !isSource && !isKs {
				continue
			}
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	fmt.Print(out.String())
	return nil
}
