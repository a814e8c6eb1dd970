"""Work in flight, made in nova's own cell database with nova's own objects.

With the fake transport and no image service, ``POST /servers`` cannot
create a server, and nothing could ever migrate one; so the quiesce tests
put a server in BUILD/``scheduling`` and a running live migration straight
into cell1 (and the instance mapping into the API database): the rows nova's
API and conductor would have written.  Then they settle them, and remove the
server, since the shared cloud has no neutron and nova's server list asks
neutron about every server it shows.

Run with nova's nova.conf (nova parses its own command line)::

    python novadb.py NOVA_CONF stuck PROJECT_ID USER_ID   # prints the ids
    python novadb.py NOVA_CONF settle SERVER_UUID MIGRATION_ID
    python novadb.py NOVA_CONF remove SERVER_UUID MIGRATION_ID
"""

import json
import sys
import uuid

from nova import config
from nova import context
from nova.network import model as network_model
from nova import objects


def stuck(admin, cell, project_id, user_id):
    flavor = objects.Flavor(admin, name=f'quiesce-{uuid.uuid4().hex[:6]}',
                            memory_mb=64, vcpus=1, root_gb=1, ephemeral_gb=0,
                            swap=0, flavorid=uuid.uuid4().hex)
    flavor.create()
    with context.target_cell(admin, cell) as cctxt:
        server = objects.Instance(
            cctxt, uuid=str(uuid.uuid4()), project_id=project_id,
            user_id=user_id, display_name='stuck-in-build',
            vm_state='building', task_state='scheduling', power_state=0,
            flavor=flavor, instance_type_id=flavor.id, memory_mb=64, vcpus=1,
            root_gb=1, ephemeral_gb=0, image_ref='', availability_zone='nova',
            launch_index=0, info_cache=objects.InstanceInfoCache(
                network_info=network_model.NetworkInfo()))
        server.create()
        migration = objects.Migration(
            cctxt, instance_uuid=server.uuid, status='running',
            migration_type='live-migration', source_compute='compute-1',
            dest_compute='compute-2', old_instance_type_id=flavor.id,
            new_instance_type_id=flavor.id)
        migration.create()
    objects.InstanceMapping(admin, instance_uuid=server.uuid,
                            cell_mapping=cell, project_id=project_id,
                            user_id=user_id).create()
    print(json.dumps({'server': server.uuid, 'migration': migration.id}))


def settle(admin, cell, server_uuid, migration_id):
    """What a finished build and migration leave behind."""
    with context.target_cell(admin, cell) as cctxt:
        server = objects.Instance.get_by_uuid(cctxt, server_uuid)
        server.vm_state, server.task_state = 'active', None
        server.save()
        migration = objects.Migration.get_by_id(cctxt, int(migration_id))
        migration.status = 'completed'
        migration.save()


def remove(admin, cell, server_uuid, migration_id):
    """Settle, then delete the server; the migration stays, completed."""
    settle(admin, cell, server_uuid, migration_id)
    with context.target_cell(admin, cell) as cctxt:
        server = objects.Instance.get_by_uuid(cctxt, server_uuid,
                                              expected_attrs=['flavor'])
        server.destroy()
    objects.InstanceMapping.get_by_instance_uuid(admin, server_uuid).destroy()
    objects.Flavor.get_by_flavor_id(admin, server.flavor.flavorid).destroy()


def main(conf_path, command, *args):
    objects.register_all()
    config.parse_args(['novadb', '--config-file', conf_path])
    admin = context.get_admin_context()
    [cell] = [c for c in objects.CellMappingList.get_all(admin)
              if not c.is_cell0()]
    {'stuck': stuck, 'settle': settle, 'remove': remove}[command](
        admin, cell, *args)


if __name__ == '__main__':
    main(*sys.argv[1:])
