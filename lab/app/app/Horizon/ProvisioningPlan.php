<?php

namespace App\Horizon;

use Illuminate\Contracts\Config\Repository as Config;
use Illuminate\Support\Str;
use InvalidArgumentException;

/**
 * Which supervisors a master starts: horizon.environments.<env> (the first
 * key matching the environment, wildcards allowed as in Horizon), each
 * supervisor merged over horizon.defaults with array_replace_recursive().
 */
class ProvisioningPlan
{
    /**
     * @return SupervisorOptions[]
     *
     * @throws InvalidArgumentException when a supervisor's options are invalid
     */
    public static function forEnvironment(Config $config, string $masterName, string $environment): array
    {
        $environments = $config->get('horizon.environments', []);
        $defaults = $config->get('horizon.defaults', []);

        if (! is_array($environments) || ! is_array($defaults ?? [])) {
            throw new InvalidArgumentException('horizon.environments and horizon.defaults must be arrays.');
        }

        $plan = null;

        foreach ($environments as $name => $supervisors) {
            if (Str::is((string) $name, $environment)) {
                $plan = $supervisors;
                break;
            }
        }

        if ($plan === null) {
            return [];
        }

        if (! is_array($plan)) {
            throw new InvalidArgumentException("horizon.environments.{$environment} must be an array of supervisors.");
        }

        $merged = array_replace_recursive($defaults ?? [], $plan);
        $connections = $config->get('queue.connections', []);
        $options = [];

        foreach ($merged as $supervisor => $values) {
            if (! is_array($values)) {
                throw new InvalidArgumentException("The supervisor [{$supervisor}] must be an array of options.");
            }

            $option = SupervisorOptions::fromConfig(
                $masterName.':'.$supervisor,
                $values,
                function (string $connection) use ($connections) {
                    return $connections[$connection]['queue'] ?? 'default';
                }
            );

            $driver = $connections[$option->connection]['driver'] ?? null;

            if ($driver === null) {
                throw new InvalidArgumentException("The supervisor [{$supervisor}] uses the unknown queue connection [{$option->connection}].");
            }

            if ($driver !== 'redis') {
                throw new InvalidArgumentException("Horizon needs a redis queue connection; the supervisor [{$supervisor}] uses [{$option->connection}] ({$driver}).");
            }

            $options[] = $option;
        }

        return $options;
    }
}
