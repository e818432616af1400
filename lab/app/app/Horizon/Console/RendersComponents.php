<?php

namespace App\Horizon\Console;

use Symfony\Component\Console\Formatter\OutputFormatter;

/**
 * Laravel 8 has no $this->components; this renders the same lines Horizon
 * 5.x prints on newer Laravel ("  INFO  message" between blank lines, task
 * lines with dots and DONE/FAIL).
 */
trait RendersComponents
{
    protected function componentInfo(string $message): void
    {
        $this->componentLine('INFO', 'fg=white;bg=blue;options=bold', $message);
    }

    protected function componentWarn(string $message): void
    {
        $this->componentLine('WARN', 'fg=black;bg=yellow;options=bold', $message);
    }

    protected function componentError(string $message): void
    {
        $this->componentLine('ERROR', 'fg=white;bg=red;options=bold', $message);
    }

    protected function componentTask(string $description, callable $task): bool
    {
        $started = microtime(true);
        $result = (bool) $task();
        $runTime = number_format((microtime(true) - $started) * 1000).'ms';
        $status = $result ? '<fg=green;options=bold>DONE</>' : '<fg=red;options=bold>FAIL</>';
        $width = 80;
        $dots = max($width - strlen($description) - strlen($runTime) - 10, 1);

        $this->output->writeln(sprintf(
            '  %s <fg=gray>%s</> <fg=gray>%s</> %s',
            OutputFormatter::escape($description),
            str_repeat('.', $dots),
            $runTime,
            $status
        ));

        return $result;
    }

    private function componentLine(string $label, string $style, string $message): void
    {
        $this->output->writeln('');
        $this->output->writeln(sprintf(' <%s> %s </> %s', $style, $label, OutputFormatter::escape($message)));
        $this->output->writeln('');
    }
}
