// Command hello is kiln's Go sample: an HTTP service on $PORT (default
// 8080) that answers GET / with a greeting, routed by httprouter.
package main
