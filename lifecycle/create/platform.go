package create

import "github.com/kiln-build/kiln/lifecycle/imageio"

// registryIO is an Images that reaches registries through an
// *imageio.IO it wraps (kiln build --platform's per-platform view), so
// a cache image still works through it.
type registryIO interface {
	RegistryIO() *imageio.IO
}

// cacheKey names the app's layer cache: CacheKey, else the image name.
func (o Options) cacheKey() string {
	if o.CacheKey != "" {
		return o.CacheKey
	}
	return o.Name
}
