// Command testkubelet is the kubelet end of pods/exec, pods/attach and
// pods/portforward for the end-to-end suites, and nothing else.
//
// It serves the kubelet's streaming paths (/exec/{ns}/{pod}/{container},
// /attach/..., /portForward/{ns}/{pod}) and container logs
// (/containerLogs/{ns}/{pod}/{container}) over HTTPS on loopback with the
// streaming server that container runtimes use (k8s.io/cri-streaming), so
// the SPDY and WebSocket protocols, stream setup and exit-code statuses are
// the real ones. Only the container is fake: no process is ever started.
//
//	exec:        echo ARGS... -> ARGS on stdout
//	             cat          -> stdin copied to stdout until EOF
//	             stderr ARGS  -> ARGS on stderr
//	             exit N       -> exit code N
//	             anything else -> exit code 127
//	attach:      "attached to CONTAINER" on stdout, then stdin copied to stdout
//	portforward: port P is a TCP connection to 127.0.0.1:P
//	logs:        "CONTAINER line 1" .. "CONTAINER line 3"; with follow=true one
//	             more numbered line every 100 ms until the caller goes away
//
// It prints one JSON line {"port":N} on stdout once it listens, and one JSON
// line per streaming request on stderr, which the tests read.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// The kubelet's defaults (pkg/kubelet/server/server.go, cri-streaming's DefaultConfig).
const (
	idleTimeout           = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve HTTPS on")
	clientCA := flag.String("client-ca-file", "", "PEM CA that must have signed the caller's client certificate (the API server's --kubelet-client-certificate)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fatal(fmt.Errorf("--listen must be a loopback address, got %q", *listen))
	}
	tlsConfig, err := serverTLS(host, *clientCA)
	if err != nil {
		fatal(err)
	}
	ln, err := tls.Listen("tcp", *listen, tlsConfig)
	if err != nil {
		fatal(err)
	}
	mux := http.NewServeMux()
	for _, method := range []string{"GET", "POST"} {
		mux.HandleFunc(method+" /exec/{ns}/{pod}/{container}", serveExec)
		mux.HandleFunc(method+" /exec/{ns}/{pod}/{uid}/{container}", serveExec)
		mux.HandleFunc(method+" /attach/{ns}/{pod}/{container}", serveAttach)
		mux.HandleFunc(method+" /attach/{ns}/{pod}/{uid}/{container}", serveAttach)
		mux.HandleFunc(method+" /portForward/{ns}/{pod}", servePortForward)
		mux.HandleFunc(method+" /portForward/{ns}/{pod}/{uid}", servePortForward)
	}
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", serveLogs)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		logRequest(r, "unknown", nil)
		http.NotFound(w, r)
	})
	out, _ := json.Marshal(map[string]int{"port": ln.Addr().(*net.TCPAddr).Port})
	fmt.Println(string(out))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fatal(srv.Serve(ln))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "testkubelet:", err)
	os.Exit(1)
}

// serverTLS makes a throwaway self-signed serving certificate for host; the
// API server does not verify it unless --kubelet-certificate-authority is set.
func serverTLS(host, clientCAFile string) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "testkubelet"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(host)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
		// The streaming protocols need HTTP/1.1 upgrades, as on a real kubelet.
		NextProtos: []string{"http/1.1"},
	}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in %s", clientCAFile)
		}
		// Like a kubelet with --client-ca-file: only the API server gets in.
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

var logMu sync.Mutex

// logRequest writes one JSON line per request: what arrived and how it asked
// to be upgraded, so tests can tell which protocol crossed the last hop.
func logRequest(r *http.Request, kind string, extra map[string]any) {
	entry := map[string]any{
		"kind":        kind,
		"method":      r.Method,
		"path":        r.URL.Path,
		"query":       r.URL.RawQuery,
		"upgrade":     r.Header.Get("Upgrade"),
		"protocols":   r.Header.Values("X-Stream-Protocol-Version"),
		"wsProtocols": r.Header.Values("Sec-WebSocket-Protocol"),
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		entry["clientCN"] = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	for k, v := range extra {
		entry[k] = v
	}
	line, _ := json.Marshal(entry)
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Fprintln(os.Stderr, string(line))
}

func serveExec(w http.ResponseWriter, r *http.Request) {
	cmd := r.URL.Query()["command"]
	logRequest(r, "exec", map[string]any{"namespace": r.PathValue("ns"), "pod": r.PathValue("pod"), "container": r.PathValue("container"), "command": cmd})
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	remotecommand.ServeExec(w, r, container{}, r.PathValue("pod"), r.PathValue("uid"), r.PathValue("container"), cmd, opts,
		idleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func serveAttach(w http.ResponseWriter, r *http.Request) {
	logRequest(r, "attach", map[string]any{"namespace": r.PathValue("ns"), "pod": r.PathValue("pod"), "container": r.PathValue("container")})
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	remotecommand.ServeAttach(w, r, container{}, r.PathValue("pod"), r.PathValue("uid"), r.PathValue("container"), opts,
		idleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func servePortForward(w http.ResponseWriter, r *http.Request) {
	logRequest(r, "portforward", map[string]any{"namespace": r.PathValue("ns"), "pod": r.PathValue("pod")})
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, container{}, r.PathValue("pod"), r.PathValue("uid"), opts,
		idleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// serveLogs answers what the API server's pods/log asks the kubelet for:
// plain text, streamed and flushed line by line when follow=true, as the
// kubelet does for `kubectl logs -f`.
func serveLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	follow := q.Get("follow") == "true"
	logRequest(r, "logs", map[string]any{"namespace": r.PathValue("ns"), "pod": r.PathValue("pod"), "container": r.PathValue("container"), "follow": follow})
	name := r.PathValue("container")
	w.Header().Set("Content-Type", "text/plain")
	flusher, _ := w.(http.Flusher)
	line := 0
	write := func() bool {
		line++
		if _, err := fmt.Fprintf(w, "%s line %d\n", name, line); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for line < 3 {
		if !write() {
			return
		}
	}
	if !follow {
		return
	}
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	// Bounded, like every loop in the tests: ten minutes of lines at most.
	for line < 6000 {
		select {
		case <-r.Context().Done():
			return
		case <-ticker.C:
			if !write() {
				return
			}
		}
	}
}

// container is the fake runtime behind every pod.
type container struct{}

// exitError satisfies k8s.io/utils/exec.ExitError, which ServeExec turns into
// the NonZeroExitCode status kubectl maps to its own exit code.
type exitError int

func (e exitError) Error() string   { return "exit status " + strconv.Itoa(int(e)) }
func (e exitError) String() string  { return e.Error() }
func (e exitError) Exited() bool    { return true }
func (e exitError) ExitStatus() int { return int(e) }

func (container) ExecInContainer(_ context.Context, _, _, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if len(cmd) == 0 {
		return exitError(127)
	}
	switch cmd[0] {
	case "echo":
		_, err := io.WriteString(out, strings.Join(cmd[1:], " ")+"\n")
		return err
	case "stderr":
		if errOut == nil {
			return exitError(2)
		}
		_, err := io.WriteString(errOut, strings.Join(cmd[1:], " ")+"\n")
		return err
	case "cat":
		if in == nil || out == nil {
			return exitError(2)
		}
		_, err := io.Copy(out, in)
		return err
	case "exit":
		if len(cmd) != 2 {
			return exitError(2)
		}
		n, err := strconv.Atoi(cmd[1])
		if err != nil || n < 0 || n > 255 {
			return exitError(2)
		}
		if n == 0 {
			return nil
		}
		return exitError(n)
	default:
		if errOut != nil {
			fmt.Fprintf(errOut, "%s: command not found\n", cmd[0])
		}
		return exitError(127)
	}
}

func (container) AttachContainer(_ context.Context, _, _, name string, in io.Reader, out, _ io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize) error {
	if out == nil {
		return nil
	}
	if _, err := io.WriteString(out, "attached to "+name+"\n"); err != nil {
		return err
	}
	if in == nil {
		return nil
	}
	_, err := io.Copy(out, in)
	return err
}

func (container) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(conn, stream)
		// Half-close toward the target so request/response protocols see EOF.
		conn.(*net.TCPConn).CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(stream, conn)
		done <- struct{}{}
	}()
	<-done
	<-done
	return nil
}
