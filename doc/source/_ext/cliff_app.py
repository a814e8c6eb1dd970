"""``autoprogram-cliff`` for CLIs that name their commands in code.

cliff's directive finds commands by entry-point namespace; freeze-ctl and
nova-cutover name theirs in their ``App`` (freeze.cli.shell: no entry-point
scan at start-up).  With ``:command: PATTERN`` and an App class as argument,
the commands come from that App; anything else is cliff's directive as is.
"""

import fnmatch
import importlib

from cliff import sphinxext


class AutoprogramCliff(sphinxext.AutoprogramCliffDirective):

    def _app_commands(self):
        module, _, name = self.arguments[0].rpartition('.')
        manager = getattr(importlib.import_module(module), name)().\
            command_manager
        pattern = self.options['command']
        return {command: entry.load()
                for command, entry in manager.commands.items()
                if fnmatch.fnmatch(command, pattern)
                and command not in ('help', 'complete')}

    def run(self):
        if 'command' not in self.options or self._load_app() is None:
            return super().run()
        self.env = self.state.document.settings.env
        return self._generate_command_nodes(
            self._app_commands(), self.options.get('application')
            or self.env.config.autoprogram_cliff_application)


def setup(app):
    app.add_directive('autoprogram-cliff', AutoprogramCliff, override=True)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
