// TEST DOUBLE of a GPU device plugin (the lab has no GPU). Lives only under tests/, never ships.
//
// It speaks the real kubelet device plugin API v1beta1 (k8s.io/kubelet/pkg/apis/deviceplugin/
// v1beta1, vendored gRPC, from the Kubernetes 1.20.2 source tree): serves GetDevicePluginOptions,
// ListAndWatch, GetPreferredAllocation, Allocate and PreStartContainer on its own socket in
// /var/lib/kubelet/device-plugins/, then registers once on kubelet.sock, advertising -count fake
// devices of -resource (default 2 x nvidia.com/gpu, IDs fake-gpu-0...).
//
// Like old real plugins (k8s-device-plugin#82, #156) it registers only at start: when kubelet
// restarts (and removes every socket in the folder) it does not register again, so the node
// shows the resource with 0 devices until the pod is restarted (recover device-plugin-restart).
// Built by tests/doubles/build-fake-device-plugin.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

type plugin struct {
	devices []*pluginapi.Device
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

func (p *plugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: p.devices}); err != nil {
		return err
	}
	log.Printf("ListAndWatch: sent %d devices", len(p.devices))
	<-stream.Context().Done()
	log.Printf("ListAndWatch: kubelet closed the stream (not registering again)")
	return nil
}

func (p *plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

func (p *plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		log.Printf("Allocate: %s", strings.Join(c.DevicesIDs, ","))
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{"NVIDIA_VISIBLE_DEVICES": strings.Join(c.DevicesIDs, ",")},
		})
	}
	return resp, nil
}

func (p *plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

func unixDial(ctx context.Context, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "unix", addr)
}

func register(kubeletSocket, endpoint, resource string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, kubeletSocket, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(unixDial))
	if err != nil {
		return fmt.Errorf("dial %s: %v", kubeletSocket, err)
	}
	defer conn.Close()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     endpoint,
		ResourceName: resource,
		Options:      &pluginapi.DevicePluginOptions{},
	})
	return err
}

func main() {
	resource := flag.String("resource", "nvidia.com/gpu", "extended resource name")
	count := flag.Int("count", 2, "number of fake devices")
	endpoint := flag.String("endpoint", "kubemedic-fake-gpu.sock", "socket name in the plugin folder")
	dir := flag.String("dir", pluginapi.DevicePluginPath, "kubelet's device plugin folder")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)

	p := &plugin{}
	for i := 0; i < *count; i++ {
		p.devices = append(p.devices, &pluginapi.Device{ID: fmt.Sprintf("fake-gpu-%d", i), Health: pluginapi.Healthy})
	}
	socket := filepath.Join(*dir, *endpoint)
	if err := os.Remove(socket); err != nil && !os.IsNotExist(err) {
		log.Fatalf("remove %s: %v", socket, err)
	}
	listener, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatalf("listen %s: %v", socket, err)
	}
	server := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(server, p)
	go func() {
		if err := server.Serve(listener); err != nil {
			log.Fatalf("serve: %v", err)
		}
	}()
	if err := register(filepath.Join(*dir, "kubelet.sock"), *endpoint, *resource); err != nil {
		log.Fatalf("register %s: %v", *resource, err)
	}
	log.Printf("registered %s (%d devices) on %s", *resource, *count, socket)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	server.Stop()
	os.Remove(socket)
}
