odoo.define('mail_sync.ui', function (require) {
"use strict";

/**
 * mail_sync in the web client:
 * - on a phone, our actions open on their cards (kanban) rather than on a list;
 * - Test & Enable reports each channel live through the bus, and says when it is done;
 * - Sync Now (a job) says when its cycle ran, and the form on screen reloads;
 * - Track (a job) says when the emails are tracked, and My Mailbox or the document on
 *   screen reloads;
 * - email sizes with units.
 */
var AbstractField = require('web.AbstractField');
var basicFields = require('web.basic_fields');
var bus = require('bus.bus').bus;
var config = require('web.config');
var core = require('web.core');
var Dialog = require('web.Dialog');
var fieldRegistry = require('web.field_registry');
var utils = require('web.utils');
var ViewManager = require('web.ViewManager');
var webClient = require('web.web_client');

var _t = core._t;

// Odoo 11 community always opens an action on its first view; on small screens (the size
// class Odoo calls isMobile) pick the first mobile-friendly view (kanban) of our actions.
ViewManager.include({
    get_default_view: function () {
        var view = this._super.apply(this, arguments);
        var model = this.dataset && this.dataset.model || '';
        if (config.device.isMobile && model.indexOf('mail.sync.') === 0 && view &&
                !view.mobile_friendly && !this.flags.default_view) {
            var friendly = _.findWhere(this.view_order, {mobile_friendly: true});
            return friendly || view;
        }
        return view;
    },
});

function isTestMessage(notification) {
    var channel = notification[0];
    var message = notification[1];
    return _.isArray(channel) && channel[1] === 'res.partner' && message &&
        message.type === 'mail_sync_test';
}

function isTrackMessage(notification) {
    var channel = notification[0];
    var message = notification[1];
    return _.isArray(channel) && channel[1] === 'res.partner' && message &&
        message.type === 'mail_sync_track';
}

/**
 * After a Track job: reload the view on screen when it shows the emails (My Mailbox) or
 * one of the documents they were posted on (e.g. the lead Track as New Lead opened), unless
 * the user is editing it.
 */
function reloadAfterTrack(message) {
    var manager = webClient.action_manager;
    var viewManager = manager && manager.inner_widget;
    var view = viewManager && viewManager.active_view;
    var controller = view && view.controller;
    if (!controller || !controller.modelName || !controller.reload || controller.mode === 'edit') {
        return;
    }
    var shown = controller.modelName === 'mail.sync.ledger';
    if (!shown && view.type === 'form' && controller.handle) {
        var resId = controller.model.get(controller.handle).res_id;
        shown = _.some(message.documents || [], function (document) {
            return document[0] === controller.modelName && document[1] === resId;
        });
    }
    if (shown) {
        controller.reload();
    }
}

function isSyncMessage(notification) {
    var channel = notification[0];
    var message = notification[1];
    return _.isArray(channel) && channel[1] === 'res.partner' && message &&
        message.type === 'mail_sync_sync';
}

/**
 * The lines of the last (or running) Test & Enable, as the server renders them; the form
 * reloads when the bus says a channel of this mailbox finished, unless the user edits.
 */
var TestProgress = AbstractField.extend({
    className: 'o_mail_sync_test_progress',
    supportedFieldTypes: ['html'],

    init: function () {
        this._super.apply(this, arguments);
        bus.on('notification', this, this._onNotification);
    },
    destroy: function () {
        bus.off('notification', this, this._onNotification);
        this._super.apply(this, arguments);
    },
    isSet: function () {
        return true;  // an empty summary still keeps its place (no label anyway)
    },
    _render: function () {
        this.$el.html(this.value || '');
        var states = _.map(this.$('.o_mail_sync_test_line'), function (line) {
            return $(line).data('state');
        });
        var failed = _.contains(states, 'failure');
        var running = _.contains(states, 'running');
        this.$el.removeClass('alert alert-success alert-danger alert-info');
        if (states.length) {
            this.$el.addClass('alert ' + (running ? 'alert-info' : (failed ? 'alert-danger' : 'alert-success')));
        }
        this.$el.attr('role', 'status');
    },
    _onNotification: function (notifications) {
        var self = this;
        var mine = _.some(notifications, function (notification) {
            return (isTestMessage(notification) || isSyncMessage(notification)) &&
                notification[1].mailbox_id === self.res_id;
        });
        // Only the form on screen reloads (a form left through the breadcrumbs stays
        // alive, detached, and reloads when it comes back).
        if (mine && this.mode === 'readonly' && !this.isDestroyed() && this.$el.is(':visible')) {
            this.trigger_up('reload');
        }
    },
});

/** A size in bytes, with its unit. */
var FieldSize = basicFields.FieldInteger.extend({
    _formatValue: function (value) {
        return value ? utils.human_size(value) : '';
    },
});

fieldRegistry.add('mail_sync_test_progress', TestProgress);
fieldRegistry.add('mail_sync_size', FieldSize);

// The end of a test is told wherever the user is (leaving the form cancels nothing).
bus.on('notification', null, function (notifications) {
    _.each(notifications, function (notification) {
        var message = notification[1];
        if (isSyncMessage(notification) && message.done) {
            if (message.failed) {
                webClient.do_warn(message.title || _t('Server-Side Sync'), message.text, true);
            } else {
                webClient.do_notify(message.title || _t('Server-Side Sync'), message.text);
            }
        } else if (isTrackMessage(notification) && message.done) {
            if (message.failed) {
                webClient.do_warn(message.title || _t('Server-Side Sync'), message.text, true);
            } else {
                webClient.do_notify(message.title || _t('Server-Side Sync'), message.text);
            }
            reloadAfterTrack(message);
        } else if (isTestMessage(notification) && message.done && !message.quiet) {
            if (message.passed) {
                webClient.do_notify(message.title || _t('Server-Side Sync'), message.text);
            } else {
                webClient.do_warn(message.title || _t('Server-Side Sync'), message.text, true);
            }
        }
    });
});

// Our own errors (models/user_error.py) in a dialog titled with our name, not "Odoo".
var MailSyncWarning = Dialog.extend({
    init: function (parent, error) {
        this._super(parent);
        this.error = error;
    },
    display: function () {
        var self = this;
        new Dialog(this, {
            size: 'medium',
            title: _t('Server-Side Sync'),
            $content: $('<div class="o_mail_sync_dialog" role="alert"/>').text(
                this.error.data.arguments[0]),
            buttons: [{text: _t('Ok'), classes: 'btn-primary', close: true}],
        }).open().on('closed', null, function () { self.destroy(); });
    },
});
core.crash_registry.add('odoo.addons.mail_sync.models.user_error.MailSyncUserError', MailSyncWarning);

return {TestProgress: TestProgress, FieldSize: FieldSize};
});
