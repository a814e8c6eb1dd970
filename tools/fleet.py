"""A simulated fleet: compute hosts as local directories, driven by ``sh``.

Each host has its own ``etc/nova/nova.conf`` (nova-network to start with)
and a small host process (its "nova-compute", a pid in ``run/``); the
``compute-l2`` step switches nova.conf to Neutron and restarts it, the L2
step adds an agent config and starts the agent process.  The command
templates are what an operator's plan would say with ``ssh {host}``
prefixed; faults are files in a host's directory (``fault-switch``: the
switch fails, ``fault-hang``: it hangs, ``fault-pause``: it waits, having
touched ``paused``, until the fault is healed).  Every step appends ``start`` and
``end`` to ``var/STEP.log``, so a test can count how often a step ran to
completion.  ``snapshot`` reads every file under ``etc/`` (and the shared
control directory) byte for byte.

For a plan written as an operator writes one (tools/cutover-demo.yaml),
``create`` also puts two commands in ``bin/``: ``ssh HOST COMMAND`` runs
COMMAND in the host's directory (as ssh would on the host), and on the
host ``service NAME start|stop|restart|status`` runs its processes from
``run/NAME.pid``.  A host with ``fault-neutron`` has no way to Neutron:
its nova-compute does not start once nova.conf says ``use_neutron = True``.
"""

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import yaml

NOVA_CONF = """[DEFAULT]
host = {host}
use_neutron = False
network_manager = nova.network.manager.FlatDHCPManager
# cell {cell}

[neutron]
url = http://neutron.example:9696
"""

#: sh snippets, as plan templates (braces doubled); $d is the host directory
_SH = {
    'restart_compute': (
        'kill $(cat $d/run/compute.pid 2>/dev/null) 2>/dev/null; '
        '(sleep 600 </dev/null >/dev/null 2>&1 & echo $! > $d/run/compute.pid)'),
    'faults': (
        '[ ! -e $d/fault-switch ] || {{ echo "switch failed: neutron '
        'unreachable" >&2; exit 1; }}; [ ! -e $d/fault-hang ] || sleep 120; '
        '[ ! -e $d/fault-pause ] || {{ touch $d/paused; while [ -e '
        '$d/fault-pause ]; do sleep 0.05; done; }}; '),
}


#: ``ssh HOST COMMAND``: COMMAND by sh in the host's directory
SSH = """#!/bin/sh
cd "$(dirname "$0")/../hosts/$1" || exit 255
shift
PATH="$(dirname "$0"):$PATH" exec sh -c "$*"
"""

#: ``service NAME ACTION`` on a host (its directory is the cwd)
SERVICE = """#!/bin/sh
pid=run/$1.pid
stop() { kill $(cat $pid 2>/dev/null) 2>/dev/null; rm -f $pid; }
case $2 in
stop) stop ;;
start|restart)
    stop
    if [ "$1" = compute ] && [ -e fault-neutron ] &&
            grep -q '^use_neutron = True' etc/nova/nova.conf; then
        echo "nova-compute: cannot reach neutron: $(cat fault-neutron)" >&2
        exit 1
    fi
    sleep 0.2  # a real service takes a moment to start
    (sleep 600 </dev/null >/dev/null 2>&1 & echo $! > $pid) ;;
status) kill -0 $(cat $pid 2>/dev/null) 2>/dev/null ;;
*) echo "usage: service NAME start|stop|restart|status" >&2; exit 2 ;;
esac
"""


def _host_cmd(body, step):
    """A step's run command: logged start and end around ``body``."""
    return ('d={fleet}/hosts/{host}; echo start >> $d/var/%s.log; %s; '
            'echo end >> $d/var/%s.log' % (step, body, step))


def step_templates():
    conf = '$d/etc/nova/nova.conf'
    backup = conf + '.nova-network'
    ml2 = '$d/etc/neutron/plugins/ml2'
    agent = ('(sleep 600 </dev/null >/dev/null 2>&1 & '
             'echo $! > $d/run/l2.pid)')
    return {
        'compute-l2': [
            {'name': 'switch',
             'run': _host_cmd(
                 _SH['faults'] + '[ -e %s ] || cp -p %s %s; '
                 "sed -i 's/^use_neutron = .*/use_neutron = True/' %s; %s"
                 % (backup, conf, backup, conf, _SH['restart_compute']),
                 'switch'),
             'check': "d={fleet}/hosts/{host}; grep -q '^use_neutron = True' "
                      + conf,
             'revert': 'd={fleet}/hosts/{host}; if [ -e %s ]; then mv %s %s; '
                       'fi; %s' % (backup, backup, conf,
                                   _SH['restart_compute'])},
            {'name': 'l2-agent',
             'run': _host_cmd(
                 'mkdir -p %s && printf "[ml2]\\nmechanism_drivers = '
                 'linuxbridge\\n" > %s/ml2_conf.ini; kill $(cat $d/run/l2.pid)'
                 ' 2>/dev/null; %s' % (ml2, ml2, agent), 'l2-agent'),
             'check': 'd={fleet}/hosts/{host}; [ -e %s/ml2_conf.ini ] && '
                      'kill -0 $(cat $d/run/l2.pid)' % ml2,
             'revert': 'd={fleet}/hosts/{host}; kill $(cat $d/run/l2.pid) '
                       '2>/dev/null; rm -f $d/run/l2.pid; rm -rf $d/etc/neutron'},
        ],
        'next-gen': [
            {'name': 'ovs',
             'run': _host_cmd(
                 '[ -e %s/ml2_conf.ini.lb ] || cp -p %s/ml2_conf.ini '
                 '%s/ml2_conf.ini.lb; sed -i "s/linuxbridge/openvswitch/" '
                 '%s/ml2_conf.ini; kill $(cat $d/run/l2.pid) 2>/dev/null; %s'
                 % (ml2, ml2, ml2, ml2, agent), 'ovs'),
             'check': 'd={fleet}/hosts/{host}; grep -q openvswitch '
                      '%s/ml2_conf.ini' % ml2,
             'revert': 'd={fleet}/hosts/{host}; if [ -e %s/ml2_conf.ini.lb ]; '
                       'then mv %s/ml2_conf.ini.lb %s/ml2_conf.ini; fi; '
                       'kill $(cat $d/run/l2.pid) 2>/dev/null; %s'
                       % (ml2, ml2, ml2, agent)},
        ],
    }


HEALTH = {
    'compute-l2': ("d={fleet}/hosts/{host}; grep -q '^use_neutron = True' "
                   '$d/etc/nova/nova.conf && kill -0 $(cat $d/run/compute.pid)'
                   ' && kill -0 $(cat $d/run/l2.pid)'),
    'next-gen': ('d={fleet}/hosts/{host}; grep -q openvswitch '
                 '$d/etc/neutron/plugins/ml2/ml2_conf.ini && '
                 'kill -0 $(cat $d/run/l2.pid)'),
}

CONTROL = {
    'proxy': [
        {'name': 'start-proxy',
         'run': 'c={fleet}/control; printf "[proxy]\\nread_only = true\\n" > '
                '$c/etc/proxy.conf; (sleep 600 </dev/null >/dev/null 2>&1 & '
                'echo $! > $c/run/proxy.pid)',
         'check': 'kill -0 $(cat {fleet}/control/run/proxy.pid)',
         'revert': 'c={fleet}/control; kill $(cat $c/run/proxy.pid) '
                   '2>/dev/null; rm -f $c/run/proxy.pid $c/etc/proxy.conf'},
        {'name': 'verify-proxy',
         'run': 'c={fleet}/control; kill -0 $(cat $c/run/proxy.pid) && '
                'grep -q "read_only = true" $c/etc/proxy.conf'},
    ],
    'translate': [
        {'name': 'apply',
         'run': 'echo "networks: translated" > {fleet}/control/etc/neutron.db',
         'check': '[ -e {fleet}/control/etc/neutron.db ]',
         'revert': 'rm -f {fleet}/control/etc/neutron.db'},
        {'name': 'verify',
         'run': 'grep -q translated {fleet}/control/etc/neutron.db'},
        {'name': 'own-database',
         'run': 'c={fleet}/control/etc; [ -e $c/neutron.conf.proxy ] || cp -p '
                '$c/neutron.conf $c/neutron.conf.proxy; sed -i '
                '"s/^connection = .*/connection = mysql:\\/\\/neutron/" '
                '$c/neutron.conf',
         'check': 'grep -q "connection = mysql://neutron" '
                  '{fleet}/control/etc/neutron.conf',
         'revert': 'c={fleet}/control/etc; if [ -e $c/neutron.conf.proxy ]; '
                   'then mv $c/neutron.conf.proxy $c/neutron.conf; fi'},
    ],
}


class Fleet:
    def __init__(self, root, size=50, cells=2):
        self.root = Path(root)
        self.hosts = {f'cmp{i:03d}': f'cell{i * cells // size + 1}'
                      for i in range(size)}

    def create(self):
        control = self.root / 'control'
        (self.root / 'bin').mkdir(parents=True, exist_ok=True)
        for name, text in (('ssh', SSH), ('service', SERVICE)):
            (self.root / 'bin' / name).write_text(text)
            (self.root / 'bin' / name).chmod(0o755)
        for sub in ('etc', 'run'):
            (control / sub).mkdir(parents=True, exist_ok=True)
        (control / 'etc' / 'neutron.conf').write_text(
            '[database]\nconnection = nova-network-proxy://\n')
        for host, cell in self.hosts.items():
            d = self.dir(host)
            for sub in ('etc/nova', 'run', 'var'):
                (d / sub).mkdir(parents=True, exist_ok=True)
            (d / 'etc' / 'nova' / 'nova.conf').write_text(
                NOVA_CONF.format(host=host, cell=cell))
            restart = f"d={shlex.quote(str(d))}; {_SH['restart_compute']}"
            subprocess.run(['sh', '-c', restart], check=True)
        return self

    def dir(self, host):
        return self.root / 'hosts' / host

    def inject(self, host, fault):
        (self.dir(host) / ('fault-' + fault)).touch()

    def heal(self, host, fault):
        (self.dir(host) / ('fault-' + fault)).unlink()

    def completions(self, host, step):
        """How many times ``step`` ran to its end on ``host``."""
        log = self.dir(host) / 'var' / f'{step}.log'
        return log.read_text().split().count('end') if log.exists() else 0

    def snapshot(self):
        files = {}
        for top in [self.root / 'control' / 'etc'] + [
                self.dir(h) / 'etc' for h in self.hosts]:
            for path in sorted(top.rglob('*')):
                if path.is_file():
                    files[str(path.relative_to(self.root))] = \
                        path.read_bytes()
        return files

    def alive(self, host, process):
        pidfile = self.dir(host) / 'run' / f'{process}.pid'
        try:
            os.kill(int(pidfile.read_text()), 0)
        except (OSError, ValueError):
            return False
        return True

    def stop(self):
        for pidfile in self.root.glob('**/run/*.pid'):
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def plan(self, stages=('proxy', 'compute-l2', 'translate', 'next-gen'),
             freeze_command=None, grants=(), batch_size=10, concurrency=8,
             failure_threshold=3, timeout=30):
        """A plan over this fleet, as YAML text."""
        steps = step_templates()
        out = []
        for name in stages:
            stage = {'name': name}
            if name in CONTROL:
                stage['commands'] = CONTROL[name]
            else:
                stage['steps'] = steps[name]
                stage['health'] = HEALTH[name]
            if freeze_command and name == 'compute-l2':
                stage['freeze'] = {'mode': 'network',
                                   'grants': list(grants)}
            if freeze_command and name == 'translate':
                stage['freeze'] = {'mode': 'full'}
                stage['point_of_no_return'] = (
                    'networks, ports and floating IPs created in Neutron '
                    'after the thaw')
            out.append(stage)
        cells = {}
        for host, cell in self.hosts.items():
            cells.setdefault(cell, []).append(host)
        return yaml.safe_dump({
            'name': 'fleet',
            'vars': {'fleet': str(self.root)},
            'defaults': {'batch_size': batch_size, 'concurrency': concurrency,
                         'failure_threshold': failure_threshold,
                         'timeout': timeout},
            'freeze': {'command': freeze_command or 'false',
                       'reason': 'nova-network to neutron'},
            'cells': cells,
            'stages': out}, sort_keys=False)


def freeze_ctl_command(state_uri):
    return (f'{shlex.quote(sys.executable)} -m freeze.cli.freeze_ctl '
            f'--state {shlex.quote(state_uri)}')
