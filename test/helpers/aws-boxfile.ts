/**
 * A one-machine aws Boxfile for runs against moto: moto's stock AMI, a t3.small that logs in
 * as ubuntu, SSH open to a documentation address. `extra` is YAML appended right after the
 * targets.aws settings: more of them (indented four spaces), then top-level keys.
 */
export function awsBoxfile(name: string, extra = ''): string {
  return `name: ${name}
basebox: debian-12
target: aws
targets:
  aws:
    ami: ami-1e749f67
    instance_type: t3.small
    ssh_cidr: 198.51.100.7/32
    ssh_username: ubuntu
${extra}`;
}
