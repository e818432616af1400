<?php

namespace App\Horizon;

use Illuminate\Support\ServiceProvider;

/**
 * Sets up the "horizon" Redis connection the way laravel/horizon does: the
 * app's default Redis connection with config('horizon.prefix') as prefix.
 */
class HorizonServiceProvider extends ServiceProvider
{
    public function register()
    {
        $config = $this->app['config'];
        $base = $config->get('database.redis.default', []);

        $config->set('database.redis.horizon', array_merge($base, [
            'options' => array_merge($base['options'] ?? [], [
                'prefix' => $config->get('horizon.prefix') ?: 'horizon:',
            ]),
        ]));

        $this->app->singleton(Repository::class);

        // horizon:work is Laravel's queue:work: it takes the same worker.
        $this->app->when(Console\WorkCommand::class)
            ->needs(\Illuminate\Queue\Worker::class)
            ->give(function ($app) {
                return $app['queue.worker'];
            });
    }
}
