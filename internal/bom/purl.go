package bom

import (
	"maps"
	"slices"
	"strings"

	packageurl "github.com/package-url/packageurl-go"
)

// PURL returns the package URL of type typ (such as "npm") with the
// given namespace, name, version and qualifiers.
func PURL(typ, namespace, name, version string, qualifiers map[string]string) string {
	var qs packageurl.Qualifiers
	for _, k := range slices.Sorted(maps.Keys(qualifiers)) {
		qs = append(qs, packageurl.Qualifier{Key: k, Value: qualifiers[k]})
	}
	return packageurl.NewPackageURL(typ, namespace, name, version, qs, "").ToString()
}

// GoPURL is pkg:golang/MODULE@VERSION, the module path split into
// namespace and name at its last slash.
func GoPURL(module, version string) string {
	ns, name := "", module
	if i := strings.LastIndex(module, "/"); i >= 0 {
		ns, name = module[:i], module[i+1:]
	}
	return PURL("golang", ns, name, version, nil)
}

// NPMPURL is pkg:npm/NAME@VERSION, a scope as the namespace
// (pkg:npm/%40scope/name@1.0.0).
func NPMPURL(name, version string) string {
	ns := ""
	if strings.HasPrefix(name, "@") {
		if i := strings.Index(name, "/"); i > 0 {
			ns, name = name[:i], name[i+1:]
		}
	}
	return PURL("npm", ns, name, version, nil)
}

// PyPIPURL is pkg:pypi/NAME@VERSION, the name normalised as the purl
// spec asks (lower case, "_" and "." as "-").
func PyPIPURL(name, version string) string {
	n := strings.ToLower(name)
	n = strings.NewReplacer("_", "-", ".", "-").Replace(n)
	return PURL("pypi", "", n, version, nil)
}
