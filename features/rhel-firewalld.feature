@microk8s-4903 @firewalld @ingress @calico
Feature: On RHEL with firewalld an ingress reaches a pod through its Service but not through its pod IP
  On RHEL 9.5 (firewalld 1.3, nftables backend, default zone public)
  MicroK8s' ingress returns 502 for the path /setup, whose backend (Service
  zeus:80, pod 10.1.48.129:8080 in the report) it reaches by pod IP, while
  the Service itself works; the same setup on Ubuntu 22.04 serves /setup
  (upstream: https://github.com/canonical/microk8s/issues/4903, which does
  not name the cause). The lab's
  hypothesis, which these cells test: firewalld's forward chain accepts
  DNATed traffic (`ct status dnat accept`), so Service traffic passes, but
  routed pod-to-pod traffic between cali* interfaces, which are in no zone,
  falls into the default zone's forward chain and is rejected with icmpx
  admin-prohibited: the ingress's connect fails at once and it answers 502.
  Fix: put the pod network in the trusted zone, `firewall-cmd --permanent
  --zone=trusted --add-source=10.1.0.0/16 && firewall-cmd --reload`.
  MicroK8s' kube-proxy writes legacy iptables rules (the snap's bundled
  iptables), which firewalld's reload never flushes (and RHEL 9.3+'s
  firewalld, with the backport of firewalld#1082, flushes no iptables rules
  at all): the reload leaves kube-proxy's rules, and portmap's hostPort
  rules written with the same legacy iptables, in place and Services stay
  up.
  Topology: a Calico node (routed pods, proxy ARP, /32 routes) with the app
  pod "zeus" (HTTP on 8080) behind ClusterIP 10.152.183.39:80, an ingress
  pod (a real reverse proxy) with the reported route only, /setup to zeus'
  pod IP (what ingress-nginx does with endpoints), published on hostPorts
  80 and 443 as MicroK8s' ingress addon publishes its controller (DaemonSet
  nginx-ingress-microk8s-controller, containerPort 80/443 with hostPort
  80/443, https://github.com/canonical/microk8s-core-addons/blob/main/addons/ingress/ingress.yaml): the
  real portmap plugin chained after the routed pod, as in Calico's
  conflist. Simplification: the controller speaks plain HTTP on 443 too.
  A client on the public network requests /setup on port 80 of the node's
  public address. "The Service works" is probed directly: the ingress pod
  requests Service zeus's ClusterIP, the same source and backend pod as
  /setup, the only difference being kube-proxy's DNAT, which is what the
  hypothesis is about.

  Scenario Outline: the ingress's /setup by pod IP, and the Service, on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a client "client" on the public network
    And a pod "zeus" on "node1" serving HTTP on port 8080
    And a ClusterIP Service "zeus" with IPs "10.152.183.39" on port 80 for pod "zeus"
    And an ingress pod "ingress" on "node1" with hostPorts "80,443" and routes "/setup=pod:zeus"
    And kube-proxy runs on "node1"
    When "ingress" requests HTTP from Service "zeus" over ipv4 as "service_http"
    And "client" requests path "/setup" on port 80 of the public address of "node1" as "ingress_via_pod_ip"
    And I trace a TCP connection from pod "ingress" to pod "zeus" on "node1" as "pod_ip_rejected_by"
    Then observation "service_http" should be "200"
    And observation "ingress_via_pod_ip" should be "<pod_ip>"
    And observation "pod_ip_rejected_by" should be <rejected_by>
    And the reported failure is present when observation "ingress_via_pod_ip" is not "200"
    And the reported failure should be <failure>

    Examples:
      | profile      | pod_ip | rejected_by                                     | failure |
      | ubuntu-22.04 | 200    | "none"                                          | absent  |
      | rhel-9.5     | 502    | containing "reject with icmpx admin-prohibited" | present |
      | rhel-9.5-bullseye | 502 | containing "admin-prohibited"                 | present |
      | rhel-9.5-trixie   | 502 | containing "admin-prohibited"                 | present |

  Scenario Outline: the trusted-zone fix; the reload leaves kube-proxy's rules alone, on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a client "client" on the public network
    And a pod "zeus" on "node1" serving HTTP on port 8080
    And a ClusterIP Service "zeus" with IPs "10.152.183.39" on port 80 for pod "zeus"
    And an ingress pod "ingress" on "node1" with hostPorts "80,443" and routes "/setup=pod:zeus"
    And kube-proxy runs on "node1"
    When I run "firewall-cmd --permanent --zone=trusted --add-source=10.1.0.0/16" on "node1"
    And firewalld is reloaded on "node1" before kube-proxy re-syncs as "kube_proxy_rules_after_reload"
    And "ingress" requests HTTP from Service "zeus" over ipv4 as "service_after_reload"
    And "client" requests path "/setup" on port 80 of the public address of "node1" as "ingress_via_pod_ip"
    And I trace a TCP connection from pod "ingress" to pod "zeus" on "node1" as "pod_ip_rejected_by"
    Then observation "kube_proxy_rules_after_reload" should be "kept"
    And observation "service_after_reload" should be "200"
    And observation "ingress_via_pod_ip" should be "200"
    And observation "pod_ip_rejected_by" should be "none"
    And the reported failure is present when observation "ingress_via_pod_ip" is not "200"
    And the reported failure should be absent

    Examples:
      | profile  |
      | rhel-9.5 |
