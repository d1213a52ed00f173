// crictl (kubemedic): the CRI client commands kubeadm runs against a CRI runtime (containerd),
// built by scripts/build-crictl from the Kubernetes source tree's vendored CRI API (v1alpha2,
// which kubelet 1.20 speaks and containerd 1.6 serves) and gRPC.
//
// Upstream's crictl (kubernetes-sigs/cri-tools) is not in Debian, and kubeadm refuses a CRI
// runtime without a crictl in PATH: init's image check stops with "crictl is required for
// container runtime", and reset removes the pods through it. This program answers the same
// command lines kubeadm 1.20 uses (cmd/kubeadm/app/util/runtime/runtime.go), plus the listing
// commands an operator reads:
//
//	crictl -r ENDPOINT info | version
//	crictl -r ENDPOINT pods [-q]         stopp ID... | rmp ID...
//	crictl -r ENDPOINT ps [-a] [-q]
//	crictl -r ENDPOINT images [-q]       pull IMAGE | inspecti IMAGE
//
// ENDPOINT: unix:///run/containerd/containerd.sock (the default) or a socket path;
// --runtime-endpoint, -i/--image-endpoint and -t/--timeout (seconds, or Go duration) as upstream.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	pb "k8s.io/cri-api/pkg/apis/runtime/v1alpha2"
)

const version = "1.20.0-kubemedic"

type options struct {
	runtime, image string
	timeout        time.Duration
	quiet, all     bool
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "crictl: "+format+"\n", args...)
	os.Exit(1)
}

func parse(args []string) (options, string, []string) {
	opts := options{runtime: "unix:///run/containerd/containerd.sock", timeout: 10 * time.Second}
	command := ""
	var rest []string
	value := func(i *int, name string) string {
		arg := args[*i]
		if eq := strings.IndexByte(arg, '='); eq >= 0 {
			return arg[eq+1:]
		}
		*i++
		if *i >= len(args) {
			fail("%s needs a value", name)
		}
		return args[*i]
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name := strings.SplitN(arg, "=", 2)[0]
		switch name {
		case "-r", "--runtime-endpoint":
			opts.runtime = value(&i, name)
		case "-i", "--image-endpoint":
			opts.image = value(&i, name)
		case "-t", "--timeout":
			text := value(&i, name)
			d, err := time.ParseDuration(text)
			if err != nil {
				var seconds int
				if _, err2 := fmt.Sscanf(text, "%d", &seconds); err2 != nil {
					fail("--timeout %q: %v", text, err)
				}
				d = time.Duration(seconds) * time.Second
			}
			opts.timeout = d
		case "-q", "--quiet":
			opts.quiet = true
		case "-a", "--all":
			opts.all = true
		case "-h", "--help":
			command = "help"
		default:
			if strings.HasPrefix(arg, "-") {
				fail("unknown flag %s", arg)
			}
			if command == "" {
				command = arg
			} else {
				rest = append(rest, arg)
			}
		}
	}
	if opts.image == "" {
		opts.image = opts.runtime
	}
	return opts, command, rest
}

func dial(ctx context.Context, endpoint string) *grpc.ClientConn {
	path := strings.TrimPrefix(endpoint, "unix://")
	if strings.Contains(path, "://") {
		fail("endpoint %q: only unix sockets are supported", endpoint)
	}
	conn, err := grpc.DialContext(ctx, path, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
	if err != nil {
		fail("connect to %s: %v", endpoint, err)
	}
	return conn
}

func printJSON(v interface{}) {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(out))
}

func need(rest []string, what string) {
	if len(rest) == 0 {
		fail("%s: give at least one", what)
	}
}

func main() {
	opts, command, rest := parse(os.Args[1:])
	if command == "" || command == "help" {
		fmt.Println("usage: crictl [-r ENDPOINT] [-t TIMEOUT] info|version|pods [-q]|stopp ID...|rmp ID...|ps [-a] [-q]|images [-q]|pull IMAGE|inspecti IMAGE")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout)
	defer cancel()
	imageCommand := map[string]bool{"images": true, "pull": true, "inspecti": true}[command]
	endpoint := opts.runtime
	if imageCommand {
		endpoint = opts.image
	}
	conn := dial(ctx, endpoint)
	defer conn.Close()
	runtime := pb.NewRuntimeServiceClient(conn)
	images := pb.NewImageServiceClient(conn)

	switch command {
	case "version":
		r, err := runtime.Version(ctx, &pb.VersionRequest{})
		if err != nil {
			fail("version: %v", err)
		}
		fmt.Printf("Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n",
			version, r.RuntimeName, r.RuntimeVersion, r.RuntimeApiVersion)
	case "info":
		r, err := runtime.Status(ctx, &pb.StatusRequest{Verbose: false})
		if err != nil {
			fail("info: %v", err)
		}
		printJSON(map[string]interface{}{"status": r.Status})
	case "pods":
		r, err := runtime.ListPodSandbox(ctx, &pb.ListPodSandboxRequest{})
		if err != nil {
			fail("pods: %v", err)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		if !opts.quiet {
			fmt.Fprintln(w, "POD ID\tNAME\tNAMESPACE\tSTATE")
		}
		for _, p := range r.Items {
			if opts.quiet {
				fmt.Fprintln(w, p.Id)
				continue
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Id, p.Metadata.GetName(), p.Metadata.GetNamespace(), p.State)
		}
		w.Flush()
	case "stopp", "rmp":
		need(rest, "pod id")
		for _, id := range rest {
			var err error
			if command == "stopp" {
				_, err = runtime.StopPodSandbox(ctx, &pb.StopPodSandboxRequest{PodSandboxId: id})
			} else {
				_, err = runtime.RemovePodSandbox(ctx, &pb.RemovePodSandboxRequest{PodSandboxId: id})
			}
			if err != nil {
				fail("%s %s: %v", command, id, err)
			}
			verb := map[string]string{"stopp": "Stopped", "rmp": "Removed"}[command]
			fmt.Printf("%s sandbox %s\n", verb, id)
		}
	case "ps":
		r, err := runtime.ListContainers(ctx, &pb.ListContainersRequest{})
		if err != nil {
			fail("ps: %v", err)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		if !opts.quiet {
			fmt.Fprintln(w, "CONTAINER\tIMAGE\tSTATE\tNAME\tPOD ID")
		}
		for _, c := range r.Containers {
			if !opts.all && c.State != pb.ContainerState_CONTAINER_RUNNING {
				continue
			}
			if opts.quiet {
				fmt.Fprintln(w, c.Id)
				continue
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Id, c.Image.GetImage(), c.State, c.Metadata.GetName(), c.PodSandboxId)
		}
		w.Flush()
	case "images":
		r, err := images.ListImages(ctx, &pb.ListImagesRequest{})
		if err != nil {
			fail("images: %v", err)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		if !opts.quiet {
			fmt.Fprintln(w, "IMAGE ID\tTAGS")
		}
		for _, i := range r.Images {
			if opts.quiet {
				fmt.Fprintln(w, i.Id)
				continue
			}
			fmt.Fprintf(w, "%s\t%s\n", i.Id, strings.Join(i.RepoTags, ","))
		}
		w.Flush()
	case "pull":
		need(rest, "image")
		r, err := images.PullImage(ctx, &pb.PullImageRequest{Image: &pb.ImageSpec{Image: rest[0]}})
		if err != nil {
			fail("pull %s: %v", rest[0], err)
		}
		fmt.Printf("Image is up to date for %s\n", r.ImageRef)
	case "inspecti":
		need(rest, "image")
		for _, name := range rest {
			r, err := images.ImageStatus(ctx, &pb.ImageStatusRequest{Image: &pb.ImageSpec{Image: name}})
			if err != nil {
				fail("inspecti %s: %v", name, err)
			}
			if r.Image == nil {
				fail("no such image %q present", name)
			}
			printJSON(map[string]interface{}{"status": r.Image})
		}
	default:
		fail("unknown command %q (this crictl has info, version, pods, stopp, rmp, ps, images, pull, inspecti)", command)
	}
}
